// Majority quorum arithmetic over a set of voters (single-server membership changes: one
// majority, never a joint one).
//
// Internal to the Raft core; pure functions.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "raft/types.h"

namespace kvd::raft {

enum class VoteResult : uint8_t {
  kPending,  // neither a majority of yes nor a majority of no yet
  kWon,      // a majority voted yes
  kLost,     // a majority voted no (yes can no longer win)
};
const char* VoteResultName(VoteResult r);

// The size of a majority of n voters: n / 2 + 1.
inline size_t MajoritySize(size_t n) { return n / 2 + 1; }

// The highest index that a majority of voters have acknowledged: sort the voters' match indexes
// in decreasing order and take the one at position majority - 1. match(id) gives a voter's
// acknowledged index. With no voters nothing can be committed: 0.
Index MajorityCommitIndex(const std::vector<NodeId>& voters,
                          const std::function<Index(NodeId)>& match);

// Tallies votes: votes maps a voter to yes (true) / no (false); voters not in the map have not
// answered, and entries for non-voters are ignored. With no voters no election can be won:
// kLost.
VoteResult TallyVotes(const std::vector<NodeId>& voters, const std::map<NodeId, bool>& votes);

}  // namespace kvd::raft
