#include "raft/describe.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "raft/confchange.h"
#include "raft/raft.h"

namespace kvd::raft {

std::string DescribeMessageType(MessageType t) { return MessageTypeName(t); }

std::string DescribeEntry(const Entry& e) {
  std::string out = absl::StrCat(e.term, "/", e.index, " ");
  switch (e.type) {
    case EntryType::kNormal:
      absl::StrAppend(&out, "EntryNormal \"", absl::CHexEscape(e.data), "\"");
      break;
    case EntryType::kConfChange: {
      absl::StatusOr<ConfChange> cc = DecodeConfChange(e.data);
      absl::StrAppend(&out, "EntryConfChange ",
                      cc.ok() ? DescribeConfChange(*cc)
                              : absl::StrCat("<undecodable: ", cc.status().message(), ">"));
      break;
    }
    default:
      absl::StrAppend(&out, "EntryUnknown");
  }
  return out;
}

std::string DescribeEntries(const std::vector<Entry>& es) {
  return absl::StrJoin(
      es, ", ", [](std::string* out, const Entry& e) { absl::StrAppend(out, DescribeEntry(e)); });
}

std::string DescribeHardState(const HardState& hs) {
  return absl::StrCat("Term:", hs.term, " Vote:", absl::Hex(hs.vote), " Commit:", hs.commit);
}

std::string DescribeSoftState(const SoftState& ss) {
  return absl::StrCat("Lead:", absl::Hex(ss.leader), " State:", RoleName(ss.role));
}

std::string DescribeSnapshot(const Snapshot& s) {
  return absl::StrCat(
      "Index:", s.metadata.index, " Term:", s.metadata.term, " ",
      DescribeConfState(s.metadata.conf_state),
      s.data.empty() ? "" : absl::StrCat(" Data:\"", absl::CHexEscape(s.data), "\""));
}

std::string DescribeMessage(const Message& m) {
  std::string out =
      absl::StrCat(absl::Hex(m.from), "->", absl::Hex(m.to), " ", MessageTypeName(m.type),
                   " Term:", m.term, " Log:", m.log_term, "/", m.index);
  if (m.reject) absl::StrAppend(&out, " Rejected (Hint: ", m.reject_hint, ")");
  if (m.commit != 0) absl::StrAppend(&out, " Commit:", m.commit);
  if (!m.entries.empty()) absl::StrAppend(&out, " Entries:[", DescribeEntries(m.entries), "]");
  if (!m.snapshot.IsEmpty()) absl::StrAppend(&out, " Snapshot: ", DescribeSnapshot(m.snapshot));
  if (!m.context.empty()) absl::StrAppend(&out, " Context:\"", absl::CHexEscape(m.context), "\"");
  return out;
}

std::string DescribeReady(const Ready& rd, const std::string& indent) {
  std::string out;
  auto line = [&](const std::string& s) { absl::StrAppend(&out, indent, s, "\n"); };
  if (rd.soft_state) line(DescribeSoftState(*rd.soft_state));
  if (rd.hard_state) line(absl::StrCat("HardState ", DescribeHardState(*rd.hard_state)));
  if (!rd.entries.empty()) {
    line("Entries:");
    for (const Entry& e : rd.entries) line(absl::StrCat("  ", DescribeEntry(e)));
  }
  if (!rd.snapshot.IsEmpty()) line(absl::StrCat("Snapshot ", DescribeSnapshot(rd.snapshot)));
  if (!rd.committed_entries.empty()) {
    line("CommittedEntries:");
    for (const Entry& e : rd.committed_entries) line(absl::StrCat("  ", DescribeEntry(e)));
  }
  if (!rd.messages.empty()) {
    line("Messages:");
    for (const Message& m : rd.messages) line(absl::StrCat("  ", DescribeMessage(m)));
  }
  if (!rd.messages_after_persist.empty()) {
    line("MessagesAfterPersist:");
    for (const Message& m : rd.messages_after_persist) line(absl::StrCat("  ", DescribeMessage(m)));
  }
  if (!rd.read_states.empty()) {
    line("ReadStates:");
    for (const ReadState& r : rd.read_states) {
      line(absl::StrCat("  Index:", r.index, " Context:\"", absl::CHexEscape(r.context), "\""));
    }
  }
  if (rd.must_sync) line("MustSync");
  return out;
}

}  // namespace kvd::raft
