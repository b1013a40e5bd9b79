#include "tests/linearizability/history.h"

#include <cctype>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace kvd::linearizability {
namespace {

constexpr absl::string_view kVersionLine = "kvd-history 1";

bool NeedsEscape(unsigned char c) { return c <= ' ' || c > '~' || c == '%' || c == '"'; }

std::string EncodeToken(absl::string_view s) {
  if (s.empty()) return "\"\"";
  if (s == "-") return "%2D";
  std::string out;
  for (unsigned char c : s) {
    if (NeedsEscape(c)) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string EncodeValue(const Value& v) { return v.has_value() ? EncodeToken(*v) : "-"; }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> DecodeToken(absl::string_view token) {
  if (token == "\"\"") return std::string();
  std::string out;
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '"') return absl::InvalidArgumentError("stray '\"' in token");
    if (token[i] != '%') {
      out += token[i];
      continue;
    }
    if (i + 2 >= token.size()) {
      return absl::InvalidArgumentError("truncated %XX escape");
    }
    int hi = HexDigit(token[i + 1]);
    int lo = HexDigit(token[i + 2]);
    if (hi < 0 || lo < 0) return absl::InvalidArgumentError("bad %XX escape");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

absl::StatusOr<Value> DecodeValue(absl::string_view token) {
  if (token == "-") return Value();
  absl::StatusOr<std::string> s = DecodeToken(token);
  if (!s.ok()) return s.status();
  return Value(std::move(*s));
}

absl::StatusOr<Operation> ParseOperation(const std::vector<absl::string_view>& fields) {
  // CLIENT CALL RET KIND KEY [ARGS...] [: RESULT]
  std::vector<absl::string_view> head;
  std::vector<absl::string_view> result;
  bool seen_colon = false;
  for (absl::string_view f : fields) {
    if (f == ":" && !seen_colon) {
      seen_colon = true;
      continue;
    }
    (seen_colon ? result : head).push_back(f);
  }
  if (seen_colon && result.size() != 1) {
    return absl::InvalidArgumentError("expected exactly one result after ':'");
  }
  if (head.size() < 5) return absl::InvalidArgumentError("expected CLIENT CALL RET KIND KEY ...");

  Operation op;
  if (!absl::SimpleAtoi(head[0], &op.client)) {
    return absl::InvalidArgumentError(absl::StrCat("bad client id '", head[0], "'"));
  }
  if (!absl::SimpleAtoi(head[1], &op.call)) {
    return absl::InvalidArgumentError(absl::StrCat("bad call time '", head[1], "'"));
  }
  if (head[2] != "?") {
    Time ret = 0;
    if (!absl::SimpleAtoi(head[2], &ret)) {
      return absl::InvalidArgumentError(absl::StrCat("bad return time '", head[2], "'"));
    }
    op.ret = ret;
  }
  absl::StatusOr<std::string> key = DecodeToken(head[4]);
  if (!key.ok()) return key.status();
  op.key = std::move(*key);

  absl::string_view kind = head[3];
  size_t nargs = head.size() - 5;
  auto args_error = [&](size_t want) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, " takes ", want, " argument(s) after the key, got ", nargs));
  };
  if (kind == "get") {
    op.kind = OpKind::kGet;
    if (nargs != 0) return args_error(0);
    if (seen_colon) {
      absl::StatusOr<Value> read = DecodeValue(result[0]);
      if (!read.ok()) return read.status();
      op.read = std::move(*read);
    } else if (op.ret.has_value()) {
      return absl::InvalidArgumentError("a completed get needs ': VALUE'");
    }
  } else if (kind == "put") {
    op.kind = OpKind::kPut;
    if (nargs != 1) return args_error(1);
    absl::StatusOr<Value> v = DecodeValue(head[5]);
    if (!v.ok()) return v.status();
    op.value = std::move(*v);
    if (seen_colon) return absl::InvalidArgumentError("put has no result");
  } else if (kind == "cas") {
    op.kind = OpKind::kCas;
    if (nargs != 2) return args_error(2);
    absl::StatusOr<Value> expected = DecodeValue(head[5]);
    if (!expected.ok()) return expected.status();
    absl::StatusOr<Value> v = DecodeValue(head[6]);
    if (!v.ok()) return v.status();
    op.expected = std::move(*expected);
    op.value = std::move(*v);
    if (seen_colon) {
      if (result[0] == "ok") {
        op.succeeded = true;
      } else if (result[0] == "fail") {
        op.succeeded = false;
      } else {
        return absl::InvalidArgumentError("a cas result is 'ok' or 'fail'");
      }
    }
  } else if (kind == "delete") {
    op.kind = OpKind::kDelete;
    if (nargs != 0) return args_error(0);
    if (seen_colon) {
      if (result[0] == "1") {
        op.succeeded = true;
      } else if (result[0] == "0") {
        op.succeeded = false;
      } else {
        return absl::InvalidArgumentError("a delete result is '1' or '0'");
      }
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown operation kind '", kind, "'"));
  }
  if (absl::Status s = ValidateOperation(op); !s.ok()) return s;
  return op;
}

}  // namespace

const char* OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kGet:
      return "get";
    case OpKind::kPut:
      return "put";
    case OpKind::kCas:
      return "cas";
    case OpKind::kDelete:
      return "delete";
  }
  return "?";
}

Operation GetOp(uint64_t client, Time call, std::optional<Time> ret, std::string key, Value read) {
  Operation op;
  op.client = client;
  op.call = call;
  op.ret = ret;
  op.kind = OpKind::kGet;
  op.key = std::move(key);
  if (ret.has_value()) op.read = std::move(read);
  return op;
}

Operation PutOp(uint64_t client, Time call, std::optional<Time> ret, std::string key,
                std::string value) {
  Operation op;
  op.client = client;
  op.call = call;
  op.ret = ret;
  op.kind = OpKind::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  return op;
}

Operation CasOp(uint64_t client, Time call, std::optional<Time> ret, std::string key,
                Value expected, std::string value, std::optional<bool> succeeded) {
  Operation op;
  op.client = client;
  op.call = call;
  op.ret = ret;
  op.kind = OpKind::kCas;
  op.key = std::move(key);
  op.expected = std::move(expected);
  op.value = std::move(value);
  if (ret.has_value()) op.succeeded = succeeded;
  return op;
}

Operation DeleteOp(uint64_t client, Time call, std::optional<Time> ret, std::string key,
                   std::optional<bool> existed) {
  Operation op;
  op.client = client;
  op.call = call;
  op.ret = ret;
  op.kind = OpKind::kDelete;
  op.key = std::move(key);
  if (ret.has_value()) op.succeeded = existed;
  return op;
}

absl::Status ValidateOperation(const Operation& op) {
  if (op.ret.has_value() && *op.ret < op.call) {
    return absl::InvalidArgumentError(
        absl::StrCat("returns (", *op.ret, ") before it was called (", op.call, ")"));
  }
  bool indeterminate = op.Indeterminate();
  if (indeterminate && (op.read.has_value() || op.succeeded.has_value())) {
    return absl::InvalidArgumentError("an indeterminate operation has no result");
  }
  switch (op.kind) {
    case OpKind::kGet:
      if (op.value.has_value() || op.expected.has_value() || op.succeeded.has_value()) {
        return absl::InvalidArgumentError("a get has no value, expected value or success flag");
      }
      break;
    case OpKind::kPut:
      if (!op.value.has_value()) return absl::InvalidArgumentError("a put needs a value");
      if (op.expected.has_value() || op.read.has_value() || op.succeeded.has_value()) {
        return absl::InvalidArgumentError("a put has only a value");
      }
      break;
    case OpKind::kCas:
      if (!op.value.has_value()) return absl::InvalidArgumentError("a cas needs a new value");
      if (op.read.has_value()) return absl::InvalidArgumentError("a cas reads nothing");
      if (!indeterminate && !op.succeeded.has_value()) {
        return absl::InvalidArgumentError("a completed cas needs its result (ok or fail)");
      }
      break;
    case OpKind::kDelete:
      if (op.value.has_value() || op.expected.has_value() || op.read.has_value()) {
        return absl::InvalidArgumentError("a delete has no value");
      }
      break;
  }
  return absl::OkStatus();
}

std::string FormatOperation(const Operation& op) {
  std::string line = absl::StrCat(op.client, " ", op.call, " ",
                                  op.ret.has_value() ? absl::StrCat(*op.ret) : std::string("?"),
                                  " ", OpKindName(op.kind), " ", EncodeToken(op.key));
  switch (op.kind) {
    case OpKind::kGet:
      if (op.ret.has_value()) absl::StrAppend(&line, " : ", EncodeValue(op.read));
      break;
    case OpKind::kPut:
      absl::StrAppend(&line, " ", EncodeValue(op.value));
      break;
    case OpKind::kCas:
      absl::StrAppend(&line, " ", EncodeValue(op.expected), " ", EncodeValue(op.value));
      if (op.ret.has_value() && op.succeeded.has_value()) {
        absl::StrAppend(&line, " : ", *op.succeeded ? "ok" : "fail");
      }
      break;
    case OpKind::kDelete:
      if (op.ret.has_value() && op.succeeded.has_value()) {
        absl::StrAppend(&line, " : ", *op.succeeded ? "1" : "0");
      }
      break;
  }
  return line;
}

std::string FormatHistory(const std::vector<Operation>& ops) {
  std::string out = absl::StrCat(kVersionLine, "\n");
  for (const Operation& op : ops) absl::StrAppend(&out, FormatOperation(op), "\n");
  return out;
}

absl::StatusOr<std::vector<Operation>> ParseHistory(std::string_view std_text) {
  absl::string_view text(std_text.data(), std_text.size());
  std::vector<Operation> ops;
  bool seen_version = false;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    // Tabs count as blanks too.
    std::vector<absl::string_view> split;
    for (absl::string_view f : fields) {
      for (absl::string_view g : absl::StrSplit(f, '\t', absl::SkipWhitespace())) {
        split.push_back(g);
      }
    }
    if (!seen_version) {
      if (split.size() != 2 || split[0] != "kvd-history") {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line_no, ": expected the version line '", kVersionLine, "'"));
      }
      if (split[1] != "1") {
        return absl::InvalidArgumentError(absl::StrCat(
            "line ", line_no, ": history format version ", split[1], " is not supported (1 is)"));
      }
      seen_version = true;
      continue;
    }
    absl::StatusOr<Operation> op = ParseOperation(split);
    if (!op.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_no, ": ", op.status().message()));
    }
    ops.push_back(std::move(*op));
  }
  if (!seen_version) {
    return absl::InvalidArgumentError(
        absl::StrCat("empty history: no version line '", kVersionLine, "'"));
  }
  return ops;
}

}  // namespace kvd::linearizability
