#include "raft/testing/datadriven.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kvd::raft::testing {
namespace {

constexpr char kSeparator[] = "----";

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();  // trailing newline
  return lines;
}

bool HasBlankLine(const std::string& output) {
  for (const std::string& l : SplitLines(output)) {
    if (l.empty()) return true;
  }
  return false;
}

}  // namespace

const CmdArg* TestCase::Find(const std::string& key) const {
  for (const CmdArg& a : args) {
    if (a.key == key) return &a;
  }
  return nullptr;
}

bool ParseCommand(const std::string& line, TestCase* tc, std::string* error) {
  std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipWhitespace());
  if (words.empty()) {
    *error = "empty command";
    return false;
  }
  tc->command = line;
  tc->name = words[0];
  tc->args.clear();
  for (size_t k = 1; k < words.size(); ++k) {
    const std::string& w = words[k];
    CmdArg arg;
    const size_t eq = w.find('=');
    if (eq == std::string::npos) {
      arg.key = w;
    } else {
      arg.key = w.substr(0, eq);
      std::string value = w.substr(eq + 1);
      if (!value.empty() && value.front() == '(') {
        if (value.back() != ')') {
          *error = absl::StrCat("unclosed list in '", w, "'");
          return false;
        }
        value = value.substr(1, value.size() - 2);
        if (!value.empty()) arg.vals = absl::StrSplit(value, ',');
      } else {
        arg.vals.push_back(value);
      }
    }
    tc->args.push_back(std::move(arg));
  }
  return true;
}

ScriptResult RunScript(const std::string& script, const std::string& script_name,
                       const std::function<std::string(const TestCase&)>& run) {
  ScriptResult result;
  const std::vector<std::string> lines = SplitLines(script);
  size_t i = 0;
  auto fail = [&](int line, const std::string& msg) {
    result.failures.push_back(absl::StrCat(script_name, ":", line, ": ", msg));
  };
  while (i < lines.size()) {
    const std::string& line = lines[i];
    if (line.empty() || absl::StartsWith(line, "#")) {
      absl::StrAppend(&result.rewritten, line, "\n");
      ++i;
      continue;
    }
    TestCase tc;
    tc.line = static_cast<int>(i + 1);
    std::string error;
    if (!ParseCommand(line, &tc, &error)) {
      fail(tc.line, error);
      absl::StrAppend(&result.rewritten, line, "\n");
      ++i;
      continue;
    }
    ++i;
    // Expected output: "----" then lines up to a blank line, or "----" "----" then lines up to a
    // "----" "----" pair.
    if (i >= lines.size() || lines[i] != kSeparator) {
      fail(tc.line, absl::StrCat("expected '", kSeparator, "' after command '", line, "'"));
    } else {
      ++i;
      if (i < lines.size() && lines[i] == kSeparator) {
        ++i;
        while (i < lines.size() &&
               !(lines[i] == kSeparator && i + 1 < lines.size() && lines[i + 1] == kSeparator)) {
          absl::StrAppend(&tc.expected, lines[i], "\n");
          ++i;
        }
        if (i >= lines.size()) {
          fail(tc.line, "unterminated '----' '----' block");
        } else {
          i += 2;
        }
      } else {
        while (i < lines.size() && !lines[i].empty()) {
          absl::StrAppend(&tc.expected, lines[i], "\n");
          ++i;
        }
      }
    }
    std::string actual = run(tc);
    if (actual.empty()) actual = "ok\n";
    if (actual.back() != '\n') actual.push_back('\n');
    if (actual != tc.expected) {
      fail(tc.line, absl::StrCat("output of '", line, "' differs.\n--- expected:\n", tc.expected,
                                 "--- actual:\n", actual));
    }
    absl::StrAppend(&result.rewritten, line, "\n", kSeparator, "\n");
    if (HasBlankLine(actual)) {
      absl::StrAppend(&result.rewritten, kSeparator, "\n", actual, kSeparator, "\n", kSeparator,
                      "\n");
    } else {
      absl::StrAppend(&result.rewritten, actual);
      // A single-separator output ends at a blank line: keep one before whatever follows.
      if (i < lines.size() && !lines[i].empty()) absl::StrAppend(&result.rewritten, "\n");
    }
  }
  return result;
}

}  // namespace kvd::raft::testing
