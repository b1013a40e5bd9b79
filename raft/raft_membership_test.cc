// Membership changes, one server at a time (paper §6, thesis §4.1-§4.3): adding and removing
// voters, learners and their promotion, the leader removing itself, and the rules that keep two
// memberships in use at once from having disjoint majorities (one change pending at a time, only
// after the leader committed an entry of its term, effective when applied).
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/confchange.h"
#include "raft/errors.h"
#include "raft/rawnode.h"
#include "raft/testing/cluster.h"
#include "raft/testing/helpers.h"

namespace kvd::raft {
namespace {

using testing::AddJoiner;
using testing::AddSnapshotMembers;
using testing::Cluster;
using testing::CommitOf;
using testing::Drain;
using testing::RoleOf;
using testing::TermOf;
using testing::TestConfig;

ConfChange AddVoter(NodeId id) {
  return ConfChange{.type = ConfChangeType::kAddNode, .node_id = id};
}
ConfChange AddLearner(NodeId id) {
  return ConfChange{.type = ConfChangeType::kAddLearnerNode, .node_id = id};
}
ConfChange Remove(NodeId id) {
  return ConfChange{.type = ConfChangeType::kRemoveNode, .node_id = id};
}

// A three-voter cluster (started from a snapshot at 1) with leader 1.
std::unique_ptr<Cluster> ThreeVoters() {
  auto c = std::make_unique<Cluster>();
  AddSnapshotMembers(*c, {1, 2, 3});
  c->Elect(1);
  return c;
}

// Proposes data on the leader and lets the cluster run (with a few heartbeats, which resume
// followers that were cut off); returns whether it was committed.
bool Commits(Cluster& c, NodeId leader, const std::string& data) {
  const Index before = CommitOf(c.raw(leader));
  if (!c.raw(leader).Propose(data).ok()) return false;
  c.Stabilize();
  for (int k = 0; k < 3; ++k) {
    c.Tick(leader);
    c.Stabilize();
  }
  return CommitOf(c.raw(leader)) > before;
}

std::string LastApplied(testing::TestNode& n) {
  return n.applied().empty() ? std::string("<nothing>") : n.applied().back().second;
}

// "Cluster configurations are stored and communicated using special entries in the replicated
// log": a new voter joins, is caught up, and from then on counts toward the majority.
TEST(RaftPaper_6, AddedVoterCatchesUpAndCountsTowardCommitOnceApplied) {
  std::unique_ptr<Cluster> c = ThreeVoters();
  AddJoiner(*c, 4);
  ASSERT_TRUE(c->raw(1).ProposeConfChange(AddVoter(4)).ok());
  c->Stabilize();
  for (NodeId id : {1, 2, 3, 4}) {
    EXPECT_EQ(c->node(id).conf_state().voters, (std::vector<NodeId>{1, 2, 3, 4})) << id;
  }
  // 4 voters: 2 are not a majority, 3 are.
  c->Isolate(3);
  c->Isolate(4);
  EXPECT_FALSE(Commits(*c, 1, "two of four"));
  c->Heal();
  c->Isolate(3);
  EXPECT_TRUE(Commits(*c, 1, "three of four"));
  EXPECT_EQ(LastApplied(c->node(4)), "three of four");
}

// The change takes effect when applied, not when appended: until then the old majority rules.
TEST(RaftPaper_6, ChangeTakesEffectOnlyWhenApplied) {
  std::unique_ptr<Cluster> c = ThreeVoters();
  AddJoiner(*c, 4);
  ASSERT_TRUE(c->raw(1).ProposeConfChange(AddVoter(4)).ok());
  c->ProcessReady(1);  // appended (and sent), not committed
  EXPECT_EQ(c->raw(1).GetStatus().conf_state.voters, (std::vector<NodeId>{1, 2, 3}));
  c->Stabilize();
  EXPECT_EQ(c->raw(1).GetStatus().conf_state.voters, (std::vector<NodeId>{1, 2, 3, 4}));
}

TEST(RaftPaper_6, RemovedVoterNoLongerCountsTowardCommit) {
  std::unique_ptr<Cluster> c = ThreeVoters();
  ASSERT_TRUE(c->raw(1).ProposeConfChange(Remove(3)).ok());
  c->Stabilize();
  EXPECT_EQ(c->raw(1).GetStatus().conf_state.voters, (std::vector<NodeId>{1, 2}));
  // Two voters now: both are needed, node 3 is not.
  c->Isolate(3);
  EXPECT_TRUE(Commits(*c, 1, "without 3"));
  c->Heal();
  c->Isolate(2);
  EXPECT_FALSE(Commits(*c, 1, "without 2"));
}

TEST(RaftPaper_6, RemovedNodeNeverCampaigns) {
  std::unique_ptr<Cluster> c = ThreeVoters();
  ASSERT_TRUE(c->raw(1).ProposeConfChange(Remove(3)).ok());
  c->Stabilize();
  const Term term = TermOf(c->raw(3));
  for (int k = 0; k < 5; ++k) c->TickElection(3);
  c->raw(3).Campaign();
  EXPECT_EQ(RoleOf(c->raw(3)), Role::kFollower);
  EXPECT_EQ(TermOf(c->raw(3)), term);
}

// Thesis §4.2.2: a leader removing itself leads until the change is committed (and, here,
// applied), then steps down; it stops counting itself in quorums and never campaigns again.
TEST(RaftPaper_6, LeaderRemovingItselfStepsDownOnceTheRemovalIsApplied) {
  std::unique_ptr<Cluster> c = ThreeVoters();
  ASSERT_TRUE(c->raw(1).ProposeConfChange(Remove(1)).ok());
  c->ProcessReady(1);
  EXPECT_EQ(RoleOf(c->raw(1)), Role::kLeader);  // not applied yet
  c->Stabilize();
  EXPECT_EQ(RoleOf(c->raw(1)), Role::kFollower);
  EXPECT_EQ(c->raw(2).GetStatus().conf_state.voters, (std::vector<NodeId>{2, 3}));
  // The others learned the removal is committed, and elect a leader among themselves.
  c->TickElection(2);
  c->Stabilize();
  EXPECT_EQ(RoleOf(c->raw(2)), Role::kLeader);
  EXPECT_TRUE(Commits(*c, 2, "after"));
  c->TickElection(1);
  EXPECT_EQ(RoleOf(c->raw(1)), Role::kFollower);
}

// Thesis §4.1: "the leader ... does not start a new configuration change until the previous one
// has been committed" (here: applied, since changes take effect on apply).
TEST(RaftPaper_6, OnlyOneChangeMayBePending) {
  std::unique_ptr<Cluster> c = ThreeVoters();
  AddJoiner(*c, 4);
  AddJoiner(*c, 5);
  ASSERT_TRUE(c->raw(1).ProposeConfChange(AddLearner(4)).ok());
  absl::Status s = c->raw(1).ProposeConfChange(AddLearner(5));
  EXPECT_TRUE(IsProposalDropped(s)) << s;
  EXPECT_NE(s.message().find("not yet applied"), std::string::npos) << s;
  c->Stabilize();
  EXPECT_TRUE(c->raw(1).ProposeConfChange(AddLearner(5)).ok());
  c->Stabilize();
  EXPECT_EQ(c->raw(1).GetStatus().conf_state.learners, (std::vector<NodeId>{4, 5}));
}

// Thesis §4.1 (the bug found after the dissertation's first version): a leader must commit an
// entry of its own term before it changes the membership.
TEST(RaftPaper_6, LeaderChangesMembershipOnlyAfterCommittingInItsTerm) {
  Cluster c;
  AddSnapshotMembers(c, {1, 2, 3});
  c.raw(1).Campaign();
  c.ProcessReady(1);
  for (NodeId id : {2, 3}) {
    c.DeliverMessages(id);
    c.ProcessReady(id);
  }
  c.DeliverMessages(1);
  ASSERT_EQ(RoleOf(c.raw(1)), Role::kLeader);
  absl::Status s = c.raw(1).ProposeConfChange(Remove(3));
  EXPECT_TRUE(IsProposalDropped(s)) << s;
  EXPECT_NE(s.message().find("not yet committed an entry of its term"), std::string::npos) << s;
  c.Stabilize();
  EXPECT_TRUE(c.raw(1).ProposeConfChange(Remove(3)).ok());
}

// A new leader may find a change an earlier leader appended in its uncommitted tail: it counts
// as pending until applied.
TEST(RaftPaper_6, ChangeInheritedFromEarlierLeaderIsPendingUntilApplied) {
  std::unique_ptr<Cluster> c = ThreeVoters();
  AddJoiner(*c, 4);
  // The change reaches node 2 but is not committed before leader 1 is cut off.
  c->Isolate(3);
  c->Isolate(4);
  c->SetDropFilter([](const Message& m) { return m.type == MessageType::kAppResp && m.to == 1; });
  ASSERT_TRUE(c->raw(1).ProposeConfChange(AddLearner(4)).ok());
  c->Stabilize();
  c->SetDropFilter(nullptr);
  c->Heal();
  c->Isolate(1);
  c->raw(2).Campaign();
  c->ProcessReady(2);
  c->DeliverMessages(3);
  c->ProcessReady(3);
  c->DeliverMessages(2);
  ASSERT_EQ(RoleOf(c->raw(2)), Role::kLeader);
  // Its empty entry is not yet committed; once it is, the inherited change is applied with it,
  // and only then may a new change start.
  EXPECT_TRUE(IsProposalDropped(c->raw(2).ProposeConfChange(AddLearner(5))));
  c->Stabilize();
  EXPECT_EQ(c->raw(2).GetStatus().conf_state.learners, (std::vector<NodeId>{4}));
  EXPECT_TRUE(c->raw(2).ProposeConfChange(AddLearner(5)).ok());
}

TEST(RaftPaper_6, ChangesTheMembershipRefusesAreInvalidArguments) {
  std::unique_ptr<Cluster> c = ThreeVoters();
  EXPECT_EQ(c->raw(1).ProposeConfChange(AddLearner(2)).code(),
            absl::StatusCode::kInvalidArgument);  // would demote a voter
  Cluster solo;
  AddSnapshotMembers(solo, {1});
  solo.Elect(1);
  EXPECT_EQ(solo.raw(1).ProposeConfChange(Remove(1)).code(),
            absl::StatusCode::kInvalidArgument);  // no voter would remain
}

// ---------------------------------------------------------------------------------------------
// Learners (thesis §4.2.1: new servers join as non-voting members until caught up)

TEST(Thesis_4_2_1_Learners, LearnerReceivesTheLogButItsAcknowledgementsDoNotCommit) {
  std::unique_ptr<Cluster> c = ThreeVoters();
  AddJoiner(*c, 4);
  AddJoiner(*c, 5);
  ASSERT_TRUE(c->raw(1).ProposeConfChange(AddLearner(4)).ok());
  c->Stabilize();
  ASSERT_TRUE(c->raw(1).ProposeConfChange(AddLearner(5)).ok());
  c->Stabilize();
  EXPECT_TRUE(Commits(*c, 1, "x"));
  EXPECT_EQ(LastApplied(c->node(4)), "x");
  EXPECT_EQ(LastApplied(c->node(5)), "x");
  // The leader and two learners are three of five members, but one of three voters.
  c->Isolate(2);
  c->Isolate(3);
  EXPECT_FALSE(Commits(*c, 1, "y"));
  EXPECT_EQ(LastApplied(c->node(4)), "x");
}

TEST(Thesis_4_2_1_Learners, LearnerNeverCampaigns) {
  Cluster c;
  AddSnapshotMembers(c, {1, 2, 3}, {4});
  for (int k = 0; k < 5; ++k) c.TickElection(4);
  c.raw(4).Campaign();
  c.Stabilize();
  EXPECT_EQ(RoleOf(c.raw(4)), Role::kFollower);
  EXPECT_EQ(TermOf(c.raw(4)), 1u);
}

TEST(Thesis_4_2_1_Learners, LearnerVotesAreNotCounted) {
  Cluster c;
  AddSnapshotMembers(c, {1, 2, 3}, {4, 5});
  c.Isolate(2);
  c.Isolate(3);
  c.raw(1).Campaign();
  c.Stabilize();
  // Vote requests go to voters only; even granted votes from both learners (three of five
  // members with the candidate's own) are not a majority of the three voters.
  const Term term = TermOf(c.raw(1));
  for (NodeId learner : {4, 5}) {
    ASSERT_TRUE(
        c.raw(1)
            .Step(Message{.type = MessageType::kVoteResp, .to = 1, .from = learner, .term = term})
            .ok());
  }
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kCandidate);
}

TEST(Thesis_4_2_1_Learners, LearnerProposalsAreDropped) {
  Cluster c;
  AddSnapshotMembers(c, {1, 2, 3}, {4});
  c.Elect(1);
  absl::Status s = c.raw(4).Propose("x");
  EXPECT_TRUE(IsProposalDropped(s)) << s;
  EXPECT_NE(s.message().find("learner"), std::string::npos) << s;
}

TEST(Thesis_4_2_1_Learners, PromotedLearnerVotesAndCounts) {
  std::unique_ptr<Cluster> c = ThreeVoters();
  AddJoiner(*c, 4);
  ASSERT_TRUE(c->raw(1).ProposeConfChange(AddLearner(4)).ok());
  c->Stabilize();
  ASSERT_TRUE(c->raw(1).ProposeConfChange(AddVoter(4)).ok());
  c->Stabilize();
  EXPECT_EQ(c->raw(4).GetStatus().conf_state.voters, (std::vector<NodeId>{1, 2, 3, 4}));
  EXPECT_TRUE(c->raw(4).GetStatus().conf_state.learners.empty());
  c->Isolate(2);
  EXPECT_TRUE(Commits(*c, 1, "1, 3 and 4"));
  // And it may now lead.
  c->Heal();
  c->Isolate(1);
  c->raw(4).Campaign();
  c->Stabilize();
  EXPECT_EQ(RoleOf(c->raw(4)), Role::kLeader);
}

TEST(Thesis_4_2_1_Learners, RemovedLearnerStopsReceivingTheLog) {
  std::unique_ptr<Cluster> c = ThreeVoters();
  AddJoiner(*c, 4);
  ASSERT_TRUE(c->raw(1).ProposeConfChange(AddLearner(4)).ok());
  c->Stabilize();
  ASSERT_TRUE(c->raw(1).ProposeConfChange(Remove(4)).ok());
  c->Stabilize();
  const size_t before = c->node(4).applied().size();
  EXPECT_TRUE(Commits(*c, 1, "after"));
  EXPECT_EQ(c->node(4).applied().size(), before);
  EXPECT_TRUE(c->raw(1).GetStatus().conf_state.learners.empty());
}

// A node that joins without knowing the membership and replays the log from index 1 cannot
// derive the membership from the changes alone: it ignores them (and stays passive) rather than
// believe a membership in which it might be the only voter.
TEST(RaftPaper_6, NodeWithoutMembershipIgnoresChangesRatherThanGuessing) {
  Cluster c({1, 2, 3});  // an empty log with a bootstrap membership: no snapshot to send
  c.Elect(1);
  AddJoiner(c, 4);
  ASSERT_TRUE(c.raw(1).ProposeConfChange(AddVoter(4)).ok());
  c.Stabilize();
  EXPECT_TRUE(c.node(4).conf_state().voters.empty());
  c.TickElection(4);
  c.Stabilize();
  EXPECT_EQ(RoleOf(c.raw(4)), Role::kFollower);
  EXPECT_EQ(c.LeaderOf(4), 1u);
}

// A node with committed conf changes it has not applied yet does not campaign: the membership
// it would campaign in is about to change.
TEST(RaftPaper_6, NoCampaignWhileCommittedChangesAreUnapplied) {
  std::unique_ptr<Cluster> c = ThreeVoters();
  ASSERT_TRUE(c->raw(1).ProposeConfChange(AddLearner(4)).ok());
  c->Stabilize();
  const Index commit = CommitOf(c->raw(2));
  // Restart node 2 as if it had applied nothing since the snapshot: the change is committed
  // (in its hard state) but handed out again for applying.
  testing::TestNode& n2 = c->node(2);
  Config cfg = n2.config();
  auto storage = std::make_unique<MemoryStorage>();
  ASSERT_TRUE(storage->ApplySnapshot(*n2.storage().GetSnapshot()).ok());
  ASSERT_TRUE(
      storage->Append(*n2.storage().Entries(2, n2.storage().LastIndex() + 1, UINT64_MAX)).ok());
  storage->SetHardState(n2.storage().hard_state());
  Cluster other;  // node 2 again, restarted over a copy of its storage, applied = 1
  testing::TestNode& copy = other.Add(cfg, std::move(storage));
  ASSERT_GT(commit, copy.node().GetStatus().applied);
  copy.node().Campaign();
  EXPECT_EQ(RoleOf(copy.node()), Role::kFollower);
  // Once the Ready carrying the change is applied, it may.
  Drain(copy);
  copy.node().Campaign();
  EXPECT_EQ(RoleOf(copy.node()), Role::kCandidate);
}

}  // namespace
}  // namespace kvd::raft
