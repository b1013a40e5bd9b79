// THE READY CONTRACT (raft/rawnode.h), tested through the public API: what may leave before the
// Ready is durable and what only after, what is handed out for applying and when, restarts, and
// the checks on what the owner passes in.
#include "raft/rawnode.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/memory_storage.h"
#include "raft/testing/cluster.h"
#include "raft/testing/helpers.h"

namespace kvd::raft {
namespace {

using testing::AddSnapshotMembers;
using testing::Cluster;
using testing::CommitOf;
using testing::Drain;
using testing::NodeWithLog;
using testing::OfType;
using testing::RoleOf;
using testing::TermOf;
using testing::TestConfig;

// A candidate's vote requests vouch for its term and self-vote: they wait for persistence.
TEST(ReadyContract, VoteRequestsLeaveOnlyAfterTermAndVoteArePersisted) {
  Cluster c({1, 2, 3});
  c.raw(1).Campaign();
  Ready rd = c.raw(1).GetReady();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->vote, 1u);
  EXPECT_TRUE(rd.must_sync);
  EXPECT_TRUE(rd.messages.empty());
  EXPECT_EQ(OfType(rd.messages_after_persist, MessageType::kVote).size(), 2u);
  c.raw(1).Advance();
}

// Followers' answers (votes, append and heartbeat responses) vouch for their durable state.
TEST(ReadyContract, FollowerResponsesLeaveOnlyAfterPersistence) {
  Cluster c({1, 2, 3});
  c.raw(1).Campaign();
  c.ProcessReady(1);
  c.DeliverMessages(2);
  Ready rd = c.raw(2).GetReady();
  EXPECT_TRUE(rd.messages.empty());
  EXPECT_EQ(OfType(rd.messages_after_persist, MessageType::kVoteResp).size(), 1u);
  c.raw(2).Advance();
  c.Stabilize();
  ASSERT_TRUE(c.raw(1).Propose("x").ok());
  c.ProcessReady(1);
  c.DeliverMessages(2);
  rd = c.raw(2).GetReady();
  EXPECT_TRUE(rd.messages.empty());
  EXPECT_FALSE(rd.entries.empty());
  EXPECT_EQ(OfType(rd.messages_after_persist, MessageType::kAppResp).size(), 1u);
  c.raw(2).Advance();
  c.Tick(1);
  c.ProcessReady(1);
  c.DeliverMessages(2);
  rd = c.raw(2).GetReady();
  EXPECT_TRUE(rd.messages.empty());
  EXPECT_EQ(OfType(rd.messages_after_persist, MessageType::kHeartbeatResp).size(), 1u);
  c.raw(2).Advance();
}

// A leader with a durable term sends its appends at once, so it replicates while it writes its
// own log ...
TEST(ReadyContract, LeaderAppendsLeaveBeforeItsOwnWriteIsDurable) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.raw(1).Propose("x").ok());
  Ready rd = c.raw(1).GetReady();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_EQ(OfType(rd.messages, MessageType::kApp).size(), 2u);
  EXPECT_TRUE(rd.messages_after_persist.empty());
  c.raw(1).Advance();
}

// ... but counts its own copy toward the commit only once the owner says it is durable
// (Advance): with one follower cut off, the follower's acknowledgement alone is no majority.
TEST(ReadyContract, LeaderCountsItsOwnEntriesOnlyAfterAdvance) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  const Index commit = CommitOf(c.raw(1));
  ASSERT_TRUE(c.raw(1).Propose("x").ok());
  Ready rd = c.raw(1).GetReady();
  ASSERT_FALSE(rd.entries.empty());
  // The follower gets the append, persists it and acknowledges it before the leader's own
  // write is done.
  for (const Message& m : rd.messages) c.Send(m);
  c.DeliverMessages(2);
  c.ProcessReady(2);
  c.DeliverMessages(1);
  EXPECT_EQ(CommitOf(c.raw(1)), commit);
  // The leader's write completes.
  ASSERT_TRUE(c.node(1).storage().Append(rd.entries).ok());
  c.raw(1).Advance();
  EXPECT_EQ(CommitOf(c.raw(1)), commit + 1);
}

// A single voter elects itself within one Ready: its term is not durable yet, so even its
// appends (to a learner here) wait. After a crash it could otherwise lead the same term twice.
TEST(ReadyContract, LeaderWhoseTermIsNotYetDurableHoldsEverything) {
  Cluster c({1}, {2});
  c.raw(1).Campaign();
  ASSERT_EQ(RoleOf(c.raw(1)), Role::kLeader);
  Ready rd = c.raw(1).GetReady();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_TRUE(rd.messages.empty());
  EXPECT_EQ(OfType(rd.messages_after_persist, MessageType::kApp).size(), 1u);
  ASSERT_TRUE(c.node(1).storage().Append(rd.entries).ok());
  c.node(1).storage().SetHardState(*rd.hard_state);
  c.raw(1).Advance();
  c.raw(1).Tick();  // a heartbeat
  rd = c.raw(1).GetReady();
  EXPECT_EQ(OfType(rd.messages, MessageType::kHeartbeat).size(), 1u);  // term durable now
  EXPECT_TRUE(rd.messages_after_persist.empty());
  c.raw(1).Advance();
}

// Committed entries are handed out only once durable on this node: a follower told an entry is
// committed in the same message that brings it applies it only in the next Ready.
TEST(ReadyContract, CommittedEntriesAreDurableOnThisNode) {
  auto n = NodeWithLog(2, {1, 2}, {1}, HardState{.term = 1, .commit = 1});
  Drain(*n);
  ASSERT_TRUE(n->node()
                  .Step(Message{.type = MessageType::kApp,
                                .to = 2,
                                .from = 1,
                                .term = 1,
                                .log_term = 1,
                                .index = 1,
                                .entries = {Entry{.term = 1, .index = 2, .data = "x"}},
                                .commit = 2})
                  .ok());
  Ready rd = n->node().GetReady();
  EXPECT_EQ(rd.entries.size(), 1u);
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->commit, 2u);
  EXPECT_TRUE(rd.committed_entries.empty());
  ASSERT_TRUE(n->storage().Append(rd.entries).ok());
  n->storage().SetHardState(*rd.hard_state);
  n->node().Advance();
  rd = n->node().GetReady();
  ASSERT_EQ(rd.committed_entries.size(), 1u);
  EXPECT_EQ(rd.committed_entries[0].data, "x");
  n->node().Advance();
}

// must_sync: only term, vote and log changes need an fsync; a commit index alone does not.
TEST(ReadyContract, MustSyncOnlyForTermVoteAndEntries) {
  auto n = NodeWithLog(2, {1, 2}, {1, 1}, HardState{.term = 1, .commit = 1});
  Drain(*n);
  ASSERT_TRUE(n->node()
                  .Step(Message{
                      .type = MessageType::kHeartbeat, .to = 2, .from = 1, .term = 1, .commit = 2})
                  .ok());
  Ready rd = n->node().GetReady();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_FALSE(rd.must_sync);
  n->node().Advance();
  Drain(*n);
  ASSERT_TRUE(
      n->node()
          .Step(Message{
              .type = MessageType::kApp, .to = 2, .from = 1, .term = 2, .log_term = 1, .index = 2})
          .ok());
  rd = n->node().GetReady();
  EXPECT_TRUE(rd.must_sync);  // the term moved
  n->node().Advance();
}

TEST(ReadyContract, HasReadyIsFalseWhileAReadyIsOutstanding) {
  Cluster c({1, 2, 3});
  c.raw(1).Campaign();
  ASSERT_TRUE(c.raw(1).HasReady());
  Ready rd = c.raw(1).GetReady();
  EXPECT_FALSE(c.raw(1).HasReady());
  c.raw(1).Tick();  // allowed meanwhile
  c.raw(1).Advance();
}

TEST(ReadyContractDeathTest, GetReadyTwiceWithoutAdvanceCrashes) {
  Cluster c({1, 2, 3});
  c.raw(1).Campaign();
  (void)c.raw(1).GetReady();
  EXPECT_DEATH((void)c.raw(1).GetReady(), "GetReady called again before Advance");
}

TEST(ReadyContractDeathTest, AdvanceWithoutGetReadyCrashes) {
  Cluster c({1, 2, 3});
  EXPECT_DEATH(c.raw(1).Advance(), "without an outstanding Ready");
}

// Applied entries are not handed out twice; the byte limit splits long runs across Readys.
TEST(ReadyContract, CommittedEntriesRespectMaxCommittedSizePerReady) {
  Cluster c({1}, {}, [](Config& cfg) { cfg.max_committed_size_per_ready = 4; });
  c.Elect(1);
  c.raw(1).GetReady();  // nothing pending; hand out an empty Ready round trip
  c.raw(1).Advance();
  for (int k = 0; k < 4; ++k) ASSERT_TRUE(c.raw(1).Propose("abc").ok());
  std::vector<size_t> batches;
  while (c.raw(1).HasReady()) {
    Ready rd = c.node(1).HandleReady();
    if (!rd.committed_entries.empty()) batches.push_back(rd.committed_entries.size());
  }
  EXPECT_EQ(batches, (std::vector<size_t>{1, 1, 1, 1}));
  EXPECT_EQ(c.node(1).applied().size(), 4u);
}

// Restart: term, vote and commit come back from the hard state, applied from Config::applied;
// only entries after applied are handed out again.
TEST(ReadyContract, RestartResumesTermVoteCommitAndApplied) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(c.raw(1).Propose("e" + std::to_string(k)).ok());
  c.Stabilize();
  const HardState hs = c.raw(2).GetStatus().hard_state;
  const Index applied = c.node(2).applied_index();
  c.node(2).Restart();
  const Status st = c.raw(2).GetStatus();
  EXPECT_EQ(st.hard_state, hs);
  EXPECT_EQ(st.applied, applied);
  EXPECT_EQ(st.soft_state.role, Role::kFollower);
  EXPECT_FALSE(c.raw(2).HasReady());  // nothing to re-apply
  // From a storage whose owner had applied less: the rest is handed out again, in order.
  Config cfg = c.node(2).config();
  cfg.applied = 2;
  cfg.storage = &c.node(2).storage();
  std::unique_ptr<RawNode> again = *RawNode::Create(cfg);
  Ready rd = again->GetReady();
  ASSERT_EQ(rd.committed_entries.size(), applied - 2);
  EXPECT_EQ(rd.committed_entries.front().index, 3u);
  EXPECT_EQ(TermOf(*again), hs.term);
}

// Entries that were handed out for persisting but never made durable are lost in a crash; the
// leader sends them again.
TEST(ReadyContract, EntriesNotPersistedBeforeACrashAreResent) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.raw(1).Propose("x").ok());
  c.ProcessReady(1);
  c.DeliverMessages(2);
  (void)c.raw(2).GetReady();  // crash before persisting
  c.node(2).Restart();
  EXPECT_EQ(c.raw(2).GetStatus().last_index, 1u);
  c.Stabilize();
  c.Tick(1);
  c.Stabilize();
  ASSERT_EQ(c.node(2).applied().size(), 1u);
  EXPECT_EQ(c.node(2).applied()[0].second, "x");
}

// A crash between a Ready's snapshot and its hard state (the contract allows writing them in
// this order) leaves a durable snapshot ahead of the durable commit index. The snapshot's index is
// committed by construction, so the node restarts from it.
TEST(ReadyContract, RestartAfterACrashBetweenSnapshotAndHardState) {
  Cluster c;
  AddSnapshotMembers(c, {1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  for (int k = 0; k < 4; ++k) ASSERT_TRUE(c.raw(1).Propose("e" + std::to_string(k)).ok());
  c.Stabilize();
  const Index leader_applied = c.node(1).applied_index();
  ASSERT_TRUE(c.node(1).CompactTo(leader_applied).ok());
  c.Heal();
  c.Tick(1);  // a heartbeat: 3 answers, the leader probes it and finds it needs the snapshot
  bool snapshot_delivered = false;
  for (int round = 0; round < 20 && !snapshot_delivered; ++round) {
    for (NodeId id : {1, 2}) {
      while (c.ProcessReady(id)) {
      }
    }
    for (const Message& m : c.inbox(3)) snapshot_delivered |= m.type == MessageType::kSnap;
    for (NodeId id : {1, 2, 3}) c.DeliverMessages(id);
    if (snapshot_delivered) break;
    while (c.ProcessReady(3)) {
    }
  }
  ASSERT_TRUE(snapshot_delivered);
  ASSERT_TRUE(c.raw(3).HasReady());
  Ready rd = c.raw(3).GetReady();
  ASSERT_FALSE(rd.snapshot.IsEmpty());
  ASSERT_TRUE(rd.hard_state.has_value());
  ASSERT_GT(rd.snapshot.metadata.index, c.node(3).storage().hard_state().commit);
  // Crash after the snapshot is durable, before the hard state is.
  ASSERT_TRUE(c.node(3).storage().ApplySnapshot(rd.snapshot).ok());
  Config cfg = c.node(3).config();
  cfg.storage = &c.node(3).storage();
  cfg.applied = rd.snapshot.metadata.index;  // the image is installed with the snapshot
  absl::StatusOr<std::unique_ptr<RawNode>> again = RawNode::Create(cfg);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(CommitOf(**again), rd.snapshot.metadata.index);
  EXPECT_EQ((*again)->GetStatus().applied, rd.snapshot.metadata.index);
}

// A Ready that only moves the commit index need not be synced; the state machine may make its
// applied index durable meanwhile. After a power loss the durable commit index may then be below
// Config::applied: the applied entries were committed (only committed entries are handed out), so
// the node restarts with its commit index at the applied index.
TEST(ReadyContract, RestartWithAppliedAheadOfTheDurableCommitIndex) {
  MemoryStorage s(ConfState{.voters = {1, 2, 3}});
  std::vector<Entry> ents;
  for (Index i = 1; i <= 5; ++i) ents.push_back(Entry{.term = 1, .index = i, .data = "x"});
  ASSERT_TRUE(s.Append(ents).ok());
  s.SetHardState(HardState{.term = 1, .vote = 1, .commit = 2});
  Config cfg = TestConfig(2);
  cfg.storage = &s;
  cfg.applied = 4;
  absl::StatusOr<std::unique_ptr<RawNode>> n = RawNode::Create(cfg);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(CommitOf(**n), 4u);
  EXPECT_EQ((*n)->GetStatus().applied, 4u);
  // Nothing at or below the applied index is handed out again.
  while ((*n)->HasReady()) {
    Ready rd = (*n)->GetReady();
    for (const Entry& e : rd.committed_entries) EXPECT_GT(e.index, 4u);
    (*n)->Advance();
  }
  // An applied index beyond the log is still refused: the log lost entries the state machine has.
  cfg.applied = 6;
  EXPECT_EQ(RawNode::Create(cfg).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RawNodeStep, LocalMessagesFromTheNetworkAreRejected) {
  Cluster c({1, 2, 3});
  for (MessageType t : {MessageType::kHup, MessageType::kBeat, MessageType::kUnreachable,
                        MessageType::kSnapStatus, MessageType::kCheckQuorum}) {
    absl::Status s = c.raw(1).Step(Message{.type = t, .to = 1, .from = 2});
    EXPECT_TRUE(IsStepRejected(s)) << static_cast<int>(t);
  }
  EXPECT_EQ(RoleOf(c.raw(1)), Role::kFollower);
}

TEST(RawNodeStep, ResponsesFromNonMembersAreRejected) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  for (MessageType t : {MessageType::kAppResp, MessageType::kHeartbeatResp, MessageType::kVoteResp,
                        MessageType::kPreVoteResp}) {
    absl::Status s = c.raw(1).Step(Message{.type = t, .to = 1, .from = 9, .term = 1});
    EXPECT_TRUE(IsStepRejected(s)) << static_cast<int>(t);
  }
  // A request from a non-member is not an error (it may be a member this node has not heard
  // of yet).
  EXPECT_TRUE(
      c.raw(2).Step(Message{.type = MessageType::kHeartbeat, .to = 2, .from = 9, .term = 1}).ok());
}

TEST(RawNodeCreate, InvalidConfigsAreRejected) {
  MemoryStorage s(ConfState{.voters = {1}});
  auto bad = [&](const std::function<void(Config&)>& change) {
    Config c = TestConfig(1);
    c.storage = &s;
    change(c);
    absl::StatusOr<std::unique_ptr<RawNode>> n = RawNode::Create(c);
    return n.status().code() == absl::StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(bad([](Config& c) { c.id = 0; }));
  EXPECT_TRUE(bad([](Config& c) { c.storage = nullptr; }));
  EXPECT_TRUE(bad([](Config& c) { c.heartbeat_tick = 0; }));
  EXPECT_TRUE(bad([](Config& c) { c.election_tick = c.heartbeat_tick; }));
  EXPECT_TRUE(bad([](Config& c) { c.max_inflight_msgs = 0; }));
  EXPECT_TRUE(bad([](Config& c) { c.max_committed_size_per_ready = 0; }));
  EXPECT_TRUE(bad([](Config& c) { c.applied = 5; }));  // beyond the commit index
  EXPECT_FALSE(bad([](Config&) {}));
  MemoryStorage broken(ConfState{.voters = {1}});
  broken.SetHardState(HardState{.term = 1, .vote = 0, .commit = 3});  // commit beyond the log
  Config c = TestConfig(1);
  c.storage = &broken;
  EXPECT_EQ(RawNode::Create(c).status().code(), absl::StatusCode::kInvalidArgument);
}

// Elections, leader changes and role changes are reported through Config::log.
TEST(RawNodeLog, ElectionsAndRoleChangesAreLogged) {
  Cluster c({1, 2, 3});
  std::vector<std::string> lines;
  c.SetLogSink([&](const std::string& l) { lines.push_back(l); });
  c.Elect(1);
  auto logged = [&](const std::string& what) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(what) != std::string::npos; });
  };
  EXPECT_TRUE(logged("1 became candidate at term 1"));
  EXPECT_TRUE(logged("1 became leader at term 1"));
  EXPECT_TRUE(logged("2 became follower at term 1"));
  EXPECT_TRUE(logged("cast MsgVote for 1"));
}

TEST(RawNodeStatus, LeaderReportsProgressOfEveryMember) {
  Cluster c;
  AddSnapshotMembers(c, {1, 2, 3}, {4});
  c.Elect(1);
  const Status st = c.raw(1).GetStatus();
  ASSERT_EQ(st.progress.size(), 4u);
  EXPECT_EQ(st.progress[0].first, 1u);
  EXPECT_TRUE(st.progress[3].second.is_learner);
  for (const auto& [id, pr] : st.progress) EXPECT_EQ(pr.match, st.last_index) << id;
  EXPECT_TRUE(c.raw(2).GetStatus().progress.empty());
}

}  // namespace
}  // namespace kvd::raft
