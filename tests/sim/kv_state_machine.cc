#include "tests/sim/kv_state_machine.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace kvd::sim {
namespace {

std::vector<absl::string_view> Fields(absl::string_view line) { return absl::StrSplit(line, ' '); }

}  // namespace

std::string EncodeCommand(const KvCommand& c) {
  switch (c.kind) {
    case KvCommandKind::kPut:
      return absl::StrCat("kv1 put ", c.client, " ", c.seq, " ", c.key, " ", c.value);
    case KvCommandKind::kCas:
      return absl::StrCat("kv1 cas ", c.client, " ", c.seq, " ", c.key, " ",
                          c.expected.has_value() ? *c.expected : "-", " ", c.value);
    case KvCommandKind::kDelete:
      return absl::StrCat("kv1 del ", c.client, " ", c.seq, " ", c.key);
    case KvCommandKind::kProbe:
      return absl::StrCat("kv1 probe ", c.seq);
  }
  return "";
}

absl::StatusOr<KvCommand> DecodeCommand(std::string_view std_data) {
  absl::string_view data(std_data.data(), std_data.size());
  std::vector<absl::string_view> f = Fields(data);
  auto bad = [&] { return absl::InvalidArgumentError(absl::StrCat("bad command '", data, "'")); };
  if (f.size() < 3 || f[0] != "kv1") return bad();
  KvCommand c;
  if (f[1] == "probe") {
    if (f.size() != 3 || !absl::SimpleAtoi(f[2], &c.seq)) return bad();
    c.kind = KvCommandKind::kProbe;
    return c;
  }
  if (f.size() < 5 || !absl::SimpleAtoi(f[2], &c.client) || !absl::SimpleAtoi(f[3], &c.seq)) {
    return bad();
  }
  c.key = std::string(f[4]);
  if (f[1] == "put" && f.size() == 6) {
    c.kind = KvCommandKind::kPut;
    c.value = std::string(f[5]);
  } else if (f[1] == "cas" && f.size() == 7) {
    c.kind = KvCommandKind::kCas;
    if (f[5] != "-") c.expected = std::string(f[5]);
    c.value = std::string(f[6]);
  } else if (f[1] == "del" && f.size() == 5) {
    c.kind = KvCommandKind::kDelete;
  } else {
    return bad();
  }
  return c;
}

KvAnswer KvStateMachine::Apply(const KvCommand& c) {
  KvAnswer answer;
  if (c.kind == KvCommandKind::kProbe) {
    answer.succeeded = true;
    return answer;
  }
  auto session = sessions_.find(c.client);
  if (session != sessions_.end()) {
    if (c.seq == session->second.seq) {
      answer.succeeded = session->second.succeeded;
      answer.duplicate = true;
      return answer;
    }
    if (c.seq < session->second.seq) {
      answer.stale = true;
      return answer;
    }
  }
  switch (c.kind) {
    case KvCommandKind::kPut:
      contents_[c.key] = c.value;
      answer.succeeded = true;
      break;
    case KvCommandKind::kCas: {
      auto it = contents_.find(c.key);
      std::optional<std::string> current;
      if (it != contents_.end()) current = it->second;
      answer.succeeded = current == c.expected;
      if (answer.succeeded) contents_[c.key] = c.value;
      break;
    }
    case KvCommandKind::kDelete:
      answer.succeeded = contents_.erase(c.key) > 0;
      break;
    case KvCommandKind::kProbe:
      break;
  }
  sessions_[c.client] = Session{c.seq, answer.succeeded};
  return answer;
}

std::optional<std::string> KvStateMachine::Get(const std::string& key) const {
  auto it = contents_.find(key);
  if (it == contents_.end()) return std::nullopt;
  return it->second;
}

std::string KvStateMachine::Serialize() const {
  std::string out = "kvsm1\n";
  for (const auto& [k, v] : contents_) absl::StrAppend(&out, "k ", k, " ", v, "\n");
  for (const auto& [client, s] : sessions_) {
    absl::StrAppend(&out, "s ", client, " ", s.seq, " ", s.succeeded ? 1 : 0, "\n");
  }
  return out;
}

absl::StatusOr<KvStateMachine> KvStateMachine::Restore(std::string_view std_data) {
  absl::string_view data(std_data.data(), std_data.size());
  std::vector<absl::string_view> lines = absl::StrSplit(data, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != "kvsm1") {
    return absl::InvalidArgumentError("not a version-1 state machine snapshot");
  }
  KvStateMachine sm;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<absl::string_view> f = Fields(lines[i]);
    if (f.size() == 3 && f[0] == "k") {
      sm.contents_[std::string(f[1])] = std::string(f[2]);
      continue;
    }
    Session s;
    uint64_t client = 0;
    int succeeded = 0;
    if (f.size() == 4 && f[0] == "s" && absl::SimpleAtoi(f[1], &client) &&
        absl::SimpleAtoi(f[2], &s.seq) && absl::SimpleAtoi(f[3], &succeeded)) {
      s.succeeded = succeeded != 0;
      sm.sessions_[client] = s;
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat("bad snapshot line '", lines[i], "'"));
  }
  return sm;
}

uint64_t KvStateMachine::Fingerprint() const {
  // FNV-1a over the serialized form: the state is a handful of keys, so this stays cheap.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : Serialize()) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace kvd::sim
