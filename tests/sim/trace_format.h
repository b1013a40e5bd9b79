// One-line renderings of Raft values for the simulator's --verbose trace. Compact on purpose: a
// seed's trace runs to thousands of lines. Not a format anyone parses.
#pragma once

#include <string>

#include "raft/memory_storage.h"
#include "raft/rawnode.h"
#include "raft/types.h"

namespace kvd::sim {

// "1->2 App t=3 lt=2 i=10 c=9 e=[11/3..12/3]", "2->1 AppResp t=3 i=12 rej hint=9".
std::string DescribeMessage(const raft::Message& m);
// "ss=leader/1 hs=3/1/10 e=[11/3..12/3] snap=- ce=[9..10] rs=1 m=2 ma=1 sync".
std::string DescribeReady(const raft::Ready& rd);
// "[snap 5/2 log 6..12 hs 3/1/10]".
std::string DescribeDisk(const raft::MemoryStorage& disk);

}  // namespace kvd::sim
