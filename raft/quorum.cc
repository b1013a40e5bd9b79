#include "raft/quorum.h"

#include <algorithm>

namespace kvd::raft {

const char* VoteResultName(VoteResult r) {
  switch (r) {
    case VoteResult::kPending:
      return "VotePending";
    case VoteResult::kWon:
      return "VoteWon";
    case VoteResult::kLost:
      return "VoteLost";
  }
  return "VoteUnknown";
}

Index MajorityCommitIndex(const std::vector<NodeId>& voters,
                          const std::function<Index(NodeId)>& match) {
  if (voters.empty()) return 0;
  std::vector<Index> acked;
  acked.reserve(voters.size());
  for (NodeId id : voters) acked.push_back(match(id));
  // After sorting in decreasing order, the first MajoritySize() voters all have at least the
  // index at position MajoritySize() - 1: that index is on a majority.
  const size_t k = MajoritySize(acked.size()) - 1;
  std::nth_element(acked.begin(), acked.begin() + static_cast<std::ptrdiff_t>(k), acked.end(),
                   std::greater<Index>());
  return acked[k];
}

VoteResult TallyVotes(const std::vector<NodeId>& voters, const std::map<NodeId, bool>& votes) {
  if (voters.empty()) return VoteResult::kLost;
  size_t yes = 0;
  size_t no = 0;
  for (NodeId id : voters) {
    auto it = votes.find(id);
    if (it == votes.end()) continue;
    (it->second ? yes : no)++;
  }
  const size_t majority = MajoritySize(voters.size());
  if (yes >= majority) return VoteResult::kWon;
  if (voters.size() - no < majority) return VoteResult::kLost;
  return VoteResult::kPending;
}

}  // namespace kvd::raft
