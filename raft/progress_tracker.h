// ProgressTracker: the membership in force on this node, the leader's Progress for each member,
// and the votes of an election in progress.
//
// Every node keeps one (a follower's Progress entries are simply unused) so that any node knows
// who votes, who may be counted, and who is a member at all.
//
// Internal to the Raft core; one thread.
#pragma once

#include <cstddef>
#include <map>
#include <vector>

#include "raft/progress.h"
#include "raft/quorum.h"
#include "raft/types.h"

namespace kvd::raft {

class ProgressTracker {
 public:
  explicit ProgressTracker(size_t max_inflight) : max_inflight_(max_inflight) {}

  // Makes cs the membership. Members that stay keep their Progress (their learner flag updated),
  // new members get one with next = next_index, departed members lose theirs.
  void SetConfState(const ConfState& cs, Index next_index);
  const ConfState& conf_state() const { return conf_; }
  const std::vector<NodeId>& voters() const { return conf_.voters; }

  bool IsVoter(NodeId id) const;
  bool IsLearner(NodeId id) const;
  bool IsMember(NodeId id) const { return progress_.count(id) > 0; }

  Progress* Get(NodeId id);
  const Progress* Get(NodeId id) const;
  std::map<NodeId, Progress>& progress() { return progress_; }
  const std::map<NodeId, Progress>& progress() const { return progress_; }

  // The highest index on a majority of the voters' logs (by their match indexes).
  Index Committed() const;
  // Whether the voters marked recent_active form a majority.
  bool QuorumActive() const;

  void ResetVotes() { votes_.clear(); }
  // Records id's answer; a second answer from the same node is ignored.
  void RecordVote(NodeId id, bool granted);
  VoteResult TallyVotes() const;
  // Yes and no answers recorded from voters.
  std::pair<size_t, size_t> VoteCounts() const;

 private:
  size_t max_inflight_;
  ConfState conf_;
  std::map<NodeId, Progress> progress_;
  std::map<NodeId, bool> votes_;
};

}  // namespace kvd::raft
