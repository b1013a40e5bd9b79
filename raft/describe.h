// One-line, human-readable renderings of the Raft core's values, for logs, debugging and the
// scripted interaction tests (raft/testdata), e.g.
//   1->2 MsgApp Term:2 Log:1/3 Commit:3 Entries:[2/4 EntryNormal "foo"]
// The exact text is not a format anyone parses; it may change (and the scripts' expected
// outputs with it).
#pragma once

#include <string>
#include <vector>

#include "raft/rawnode.h"
#include "raft/types.h"

namespace kvd::raft {

// "2/4 EntryNormal \"foo\"", "2/5 EntryConfChange add-learner 4".
std::string DescribeEntry(const Entry& e);
std::string DescribeEntries(const std::vector<Entry>& es);
std::string DescribeHardState(const HardState& hs);
std::string DescribeSoftState(const SoftState& ss);
std::string DescribeSnapshot(const Snapshot& s);
std::string DescribeMessage(const Message& m);
// A multi-line rendering of the non-empty parts of rd, each line indented by `indent`.
std::string DescribeReady(const Ready& rd, const std::string& indent = "");
std::string DescribeMessageType(MessageType t);

}  // namespace kvd::raft
