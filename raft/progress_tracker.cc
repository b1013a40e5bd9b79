#include "raft/progress_tracker.h"

#include <algorithm>

namespace kvd::raft {
namespace {

bool Contains(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

void ProgressTracker::SetConfState(const ConfState& cs, Index next_index) {
  conf_ = cs;
  std::sort(conf_.voters.begin(), conf_.voters.end());
  std::sort(conf_.learners.begin(), conf_.learners.end());
  std::map<NodeId, Progress> next;
  auto keep = [&](NodeId id, bool learner) {
    auto it = progress_.find(id);
    if (it != progress_.end()) {
      it->second.is_learner = learner;
      next.emplace(id, std::move(it->second));
    } else {
      Progress pr(next_index, max_inflight_, learner);
      // A new member counts as active until the next quorum check, so that adding it cannot make
      // the leader step down at once.
      pr.recent_active = true;
      next.emplace(id, std::move(pr));
    }
  };
  for (NodeId id : conf_.voters) keep(id, false);
  for (NodeId id : conf_.learners) keep(id, true);
  progress_ = std::move(next);
}

bool ProgressTracker::IsVoter(NodeId id) const { return Contains(conf_.voters, id); }

bool ProgressTracker::IsLearner(NodeId id) const { return Contains(conf_.learners, id); }

Progress* ProgressTracker::Get(NodeId id) {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

const Progress* ProgressTracker::Get(NodeId id) const {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

Index ProgressTracker::Committed() const {
  return MajorityCommitIndex(conf_.voters, [this](NodeId id) { return progress_.at(id).match; });
}

bool ProgressTracker::QuorumActive() const {
  size_t active = 0;
  for (NodeId id : conf_.voters) {
    if (progress_.at(id).recent_active) ++active;
  }
  return !conf_.voters.empty() && active >= MajoritySize(conf_.voters.size());
}

void ProgressTracker::RecordVote(NodeId id, bool granted) { votes_.emplace(id, granted); }

VoteResult ProgressTracker::TallyVotes() const { return raft::TallyVotes(conf_.voters, votes_); }

std::pair<size_t, size_t> ProgressTracker::VoteCounts() const {
  size_t yes = 0;
  size_t no = 0;
  for (NodeId id : conf_.voters) {
    auto it = votes_.find(id);
    if (it == votes_.end()) continue;
    (it->second ? yes : no)++;
  }
  return {yes, no};
}

}  // namespace kvd::raft
