// Majority arithmetic: commit index and vote tallies, including the tracker that applies them to
// a membership.
#include "raft/quorum.h"

#include <map>

#include "gtest/gtest.h"
#include "raft/progress_tracker.h"

namespace kvd::raft {
namespace {

Index Commit(const std::vector<NodeId>& voters, const std::map<NodeId, Index>& match) {
  return MajorityCommitIndex(voters, [&](NodeId id) {
    auto it = match.find(id);
    return it == match.end() ? 0 : it->second;
  });
}

TEST(Quorum, MajorityCommitIndexIsOnAMajority) {
  EXPECT_EQ(Commit({1}, {{1, 5}}), 5u);
  EXPECT_EQ(Commit({1, 2}, {{1, 5}, {2, 3}}), 3u);  // both needed
  EXPECT_EQ(Commit({1, 2, 3}, {{1, 5}, {2, 3}, {3, 1}}), 3u);
  EXPECT_EQ(Commit({1, 2, 3, 4}, {{1, 5}, {2, 4}, {3, 3}, {4, 2}}), 3u);  // 3 of 4
  EXPECT_EQ(Commit({1, 2, 3, 4, 5}, {{1, 9}, {2, 9}, {3, 1}, {4, 1}, {5, 1}}), 1u);
  EXPECT_EQ(Commit({1, 2, 3, 4, 5}, {{1, 9}, {2, 9}, {3, 9}, {4, 1}, {5, 1}}), 9u);
  EXPECT_EQ(Commit({}, {}), 0u);
}

TEST(Quorum, TallyVotes) {
  EXPECT_EQ(TallyVotes({1}, {{1, true}}), VoteResult::kWon);
  EXPECT_EQ(TallyVotes({1, 2, 3}, {{1, true}}), VoteResult::kPending);
  EXPECT_EQ(TallyVotes({1, 2, 3}, {{1, true}, {2, true}}), VoteResult::kWon);
  EXPECT_EQ(TallyVotes({1, 2, 3}, {{1, true}, {2, false}}), VoteResult::kPending);
  EXPECT_EQ(TallyVotes({1, 2, 3}, {{1, true}, {2, false}, {3, false}}), VoteResult::kLost);
  EXPECT_EQ(TallyVotes({1, 2, 3, 4}, {{1, true}, {2, true}}), VoteResult::kPending);
  EXPECT_EQ(TallyVotes({1, 2, 3, 4}, {{1, false}, {2, false}}), VoteResult::kLost);
  // Votes of non-voters do not count.
  EXPECT_EQ(TallyVotes({1, 2, 3}, {{1, true}, {4, true}, {5, true}}), VoteResult::kPending);
  EXPECT_EQ(TallyVotes({}, {}), VoteResult::kLost);
}

TEST(ProgressTracker, SetConfStateKeepsAddsAndDropsProgress) {
  ProgressTracker trk(4);
  trk.SetConfState(ConfState{.voters = {3, 1, 2}, .learners = {}}, 5);
  EXPECT_EQ(trk.voters(), (std::vector<NodeId>{1, 2, 3}));
  trk.Get(2)->match = 4;
  trk.SetConfState(ConfState{.voters = {1, 3}, .learners = {2, 4}}, 9);
  EXPECT_EQ(trk.Get(2)->match, 4u);  // kept, now a learner
  EXPECT_TRUE(trk.Get(2)->is_learner);
  EXPECT_TRUE(trk.IsLearner(4));
  EXPECT_EQ(trk.Get(4)->next, 9u);
  EXPECT_TRUE(trk.Get(4)->recent_active);
  trk.SetConfState(ConfState{.voters = {1, 3}, .learners = {}}, 9);
  EXPECT_FALSE(trk.IsMember(2));
  EXPECT_EQ(trk.Get(2), nullptr);
}

TEST(ProgressTracker, CommittedAndQuorumActiveCountOnlyVoters) {
  ProgressTracker trk(4);
  trk.SetConfState(ConfState{.voters = {1, 2, 3}, .learners = {4}}, 1);
  trk.Get(1)->match = 7;
  trk.Get(4)->match = 7;  // a learner's match never helps
  EXPECT_EQ(trk.Committed(), 0u);
  trk.Get(2)->match = 6;
  EXPECT_EQ(trk.Committed(), 6u);
  for (auto& [id, pr] : trk.progress()) pr.recent_active = false;
  trk.Get(1)->recent_active = true;
  trk.Get(4)->recent_active = true;
  EXPECT_FALSE(trk.QuorumActive());
  trk.Get(3)->recent_active = true;
  EXPECT_TRUE(trk.QuorumActive());
}

TEST(ProgressTracker, RecordVoteKeepsFirstAnswer) {
  ProgressTracker trk(4);
  trk.SetConfState(ConfState{.voters = {1, 2, 3}, .learners = {}}, 1);
  trk.RecordVote(1, true);
  trk.RecordVote(2, false);
  trk.RecordVote(2, true);  // ignored
  EXPECT_EQ(trk.VoteCounts(), (std::pair<size_t, size_t>{1, 1}));
  EXPECT_EQ(trk.TallyVotes(), VoteResult::kPending);
  trk.ResetVotes();
  EXPECT_EQ(trk.VoteCounts(), (std::pair<size_t, size_t>{0, 0}));
}

}  // namespace
}  // namespace kvd::raft
