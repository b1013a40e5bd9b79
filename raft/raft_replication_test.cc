// Replication mechanics beyond the paper's rules: flow control (the inflight window, the byte
// limit per append, probe / replicate / snapshot states, ReportUnreachable) and snapshots (sent to
// a follower behind the leader's compacted log, installed, retried, reported).
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/memory_storage.h"
#include "raft/rawnode.h"
#include "raft/testing/cluster.h"
#include "raft/testing/helpers.h"

namespace kvd::raft {
namespace {

using testing::AddSnapshotMembers;
using testing::Cluster;
using testing::CommitOf;
using testing::Drain;
using testing::LogTerms;
using testing::OfType;
using testing::ProgressOf;
using testing::RoleOf;
using testing::TestConfig;

int CountApps(const std::vector<Message>& sent, NodeId to) {
  int n = 0;
  for (const Message& m : sent) {
    if (m.type == MessageType::kApp && m.to == to && !m.entries.empty()) ++n;
  }
  return n;
}

std::vector<std::string> Data(testing::TestNode& n) {
  std::vector<std::string> out;
  for (const auto& [index, data] : n.applied()) out.push_back(data);
  return out;
}

PeerProgress Progress(Cluster& c, NodeId leader, NodeId peer) {
  const Status st = c.raw(leader).GetStatus();
  const PeerProgress* pr = ProgressOf(st, peer);
  return pr == nullptr ? PeerProgress{} : *pr;
}

// ---------------------------------------------------------------------------------------------
// Flow control

// In the replicate state the leader streams appends without waiting, but never more than
// max_inflight_msgs unacknowledged ones.
TEST(FlowControl, InflightWindowBoundsUnacknowledgedAppends) {
  Cluster c({1, 2, 3}, {}, [](Config& cfg) { cfg.max_inflight_msgs = 3; });
  c.Elect(1);
  ASSERT_EQ(Progress(c, 1, 2).state, ProgressState::kReplicate);
  std::vector<Message> sent;
  c.SetDropFilter([&](const Message& m) {
    sent.push_back(m);
    return m.to == 2;  // node 2 never answers
  });
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(c.raw(1).Propose("p" + std::to_string(k)).ok());
    c.Stabilize();
  }
  EXPECT_EQ(CountApps(sent, 2), 3);
  EXPECT_EQ(CountApps(sent, 3), 10);
  EXPECT_EQ(c.node(1).applied().size(), 10u);  // node 3 keeps the majority going
}

// Proposals accepted between two Readys travel together: one append per follower (and one
// acknowledgement back), however many there are.
TEST(FlowControl, ProposalsBetweenReadysShareOneAppendPerFollower) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  for (int k = 0; k < 50; ++k) ASSERT_TRUE(c.raw(1).Propose("p" + std::to_string(k)).ok());
  std::optional<Ready> rd = c.ProcessReady(1);
  ASSERT_TRUE(rd.has_value());
  EXPECT_EQ(rd->entries.size(), 50u);
  std::vector<Message> apps = OfType(rd->messages, MessageType::kApp);
  ASSERT_EQ(apps.size(), 2u);
  for (const Message& m : apps) EXPECT_EQ(m.entries.size(), 50u);
  c.Stabilize();
  EXPECT_EQ(c.node(3).applied().size(), 50u);
}

// A heartbeat answer from a follower whose window is full frees one slot, so a lost
// acknowledgement cannot stall replication for good.
TEST(FlowControl, HeartbeatResponseFreesOneSlotOfAFullWindow) {
  Cluster c({1, 2}, {}, [](Config& cfg) { cfg.max_inflight_msgs = 1; });
  c.Elect(1);
  std::vector<Message> sent;
  c.SetDropFilter([&](const Message& m) {
    sent.push_back(m);
    return m.type == MessageType::kAppResp;  // acknowledgements are lost
  });
  ASSERT_TRUE(c.raw(1).Propose("a").ok());
  c.Stabilize();
  ASSERT_TRUE(c.raw(1).Propose("b").ok());
  c.Stabilize();
  EXPECT_EQ(CountApps(sent, 2), 1);  // "b" waits: the window is full
  c.Tick(1);                         // heartbeat; its answer frees the slot
  c.Stabilize();
  EXPECT_EQ(CountApps(sent, 2), 2);
}

// One append carries at most max_size_per_msg bytes of entry data (but at least one entry).
TEST(FlowControl, AppendsRespectMaxSizePerMsg) {
  Cluster c({1, 2, 3}, {}, [](Config& cfg) { cfg.max_size_per_msg = 10; });
  c.Elect(1);
  c.Isolate(3);
  for (int k = 0; k < 6; ++k) ASSERT_TRUE(c.raw(1).Propose("123456").ok());
  c.Stabilize();
  std::vector<Message> sent;
  c.SetDropFilter([&](const Message& m) {
    sent.push_back(m);
    return false;
  });
  c.Heal();
  c.Tick(1);
  c.Stabilize();
  int apps = 0;
  for (const Message& m : sent) {
    if (m.type != MessageType::kApp || m.to != 3 || m.entries.empty()) continue;
    ++apps;
    EXPECT_EQ(m.entries.size(), 1u);  // 6 + 6 bytes > 10
  }
  EXPECT_EQ(apps, 6);
  EXPECT_EQ(c.node(3).applied().size(), 6u);
}

// In the probe state the leader sends one append and waits for its answer (or a heartbeat
// answer) before the next.
TEST(FlowControl, ProbeStateSendsOneAppendAtATime) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.raw(1).ReportUnreachable(2);
  ASSERT_EQ(Progress(c, 1, 2).state, ProgressState::kProbe);
  std::vector<Message> sent;
  c.SetDropFilter([&](const Message& m) {
    sent.push_back(m);
    return m.to == 2;
  });
  for (int k = 0; k < 5; ++k) {
    ASSERT_TRUE(c.raw(1).Propose("x").ok());
    c.Stabilize();
  }
  EXPECT_EQ(CountApps(sent, 2), 1);
  c.SetDropFilter(nullptr);
  c.Tick(1);
  c.Stabilize();
  EXPECT_EQ(Progress(c, 1, 2).state, ProgressState::kReplicate);
  EXPECT_EQ(Progress(c, 1, 2).match, c.raw(1).GetStatus().last_index);
}

// ReportUnreachable: the pipeline to that follower probably lost messages; the leader stops
// streaming and probes.
TEST(FlowControl, ReportUnreachableTurnsReplicateIntoProbe) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_EQ(Progress(c, 1, 3).state, ProgressState::kReplicate);
  c.raw(1).ReportUnreachable(3);
  EXPECT_EQ(Progress(c, 1, 3).state, ProgressState::kProbe);
  EXPECT_EQ(Progress(c, 1, 2).state, ProgressState::kReplicate);
  c.raw(1).ReportUnreachable(42);  // unknown: ignored
}

// The uncommitted tail is bounded: beyond max_uncommitted_entries_size the leader drops
// proposals, and takes them again once entries commit.
TEST(FlowControl, UncommittedTailLimitDropsProposals) {
  Cluster c({1, 2, 3}, {}, [](Config& cfg) { cfg.max_uncommitted_entries_size = 10; });
  c.Elect(1);
  c.Isolate(2);
  c.Isolate(3);
  EXPECT_TRUE(c.raw(1).Propose("123456").ok());
  absl::Status s = c.raw(1).Propose("123456");
  EXPECT_TRUE(IsProposalDropped(s)) << s;
  c.Heal();
  c.Tick(1);
  c.Stabilize();
  EXPECT_TRUE(c.raw(1).Propose("123456").ok());
}

// ---------------------------------------------------------------------------------------------
// Snapshots

// A follower whose next index is below the leader's first log index gets the snapshot instead,
// installs it (replacing its log) and resumes normal replication after it.
TEST(Snapshots, FollowerBehindTheCompactedLogIsSentASnapshot) {
  Cluster c;
  AddSnapshotMembers(c, {1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  for (int k = 0; k < 5; ++k) ASSERT_TRUE(c.raw(1).Propose("e" + std::to_string(k)).ok());
  c.Stabilize();
  const Index applied = c.node(1).applied_index();
  ASSERT_TRUE(c.node(1).CompactTo(applied).ok());
  c.Heal();
  std::vector<Message> sent;
  c.SetDropFilter([&](const Message& m) {
    sent.push_back(m);
    return false;
  });
  c.Tick(1);
  c.Stabilize();
  std::vector<Message> snaps = OfType(sent, MessageType::kSnap);
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0].snapshot.metadata.index, applied);
  EXPECT_EQ(Data(c.node(3)), Data(c.node(1)));
  EXPECT_EQ(c.node(3).storage().FirstIndex(), applied + 1);
  // Later entries flow as usual.
  ASSERT_TRUE(c.raw(1).Propose("after").ok());
  c.Stabilize();
  EXPECT_EQ(c.node(3).applied().back().second, "after");
  EXPECT_EQ(Progress(c, 1, 3).state, ProgressState::kReplicate);
}

// A storage that can say its snapshot is not ready yet.
class SlowSnapshotStorage final : public LogStorage {
 public:
  explicit SlowSnapshotStorage(MemoryStorage* s) : s_(s) {}
  InitialState GetInitialState() const override { return s_->GetInitialState(); }
  absl::StatusOr<std::vector<Entry>> Entries(Index lo, Index hi, uint64_t max) const override {
    return s_->Entries(lo, hi, max);
  }
  absl::StatusOr<Term> GetTerm(Index i) const override { return s_->GetTerm(i); }
  Index FirstIndex() const override { return s_->FirstIndex(); }
  Index LastIndex() const override { return s_->LastIndex(); }
  absl::StatusOr<Snapshot> GetSnapshot() const override {
    ++requests;
    if (!ready) return ErrSnapshotTemporarilyUnavailable();
    return s_->GetSnapshot();
  }
  bool ready = false;
  mutable int requests = 0;

 private:
  MemoryStorage* s_;
};

// ErrSnapshotTemporarilyUnavailable: the leader sends nothing and tries again later.
TEST(Snapshots, TemporarilyUnavailableSnapshotIsRetriedLater) {
  MemoryStorage disk;
  ASSERT_TRUE(
      disk.ApplySnapshot(
              Snapshot{.metadata = {.conf_state = {.voters = {1, 2}}, .index = 5, .term = 1}})
          .ok());
  disk.SetHardState(HardState{.term = 1, .vote = 0, .commit = 5});
  SlowSnapshotStorage storage(&disk);
  Config cfg = TestConfig(1);
  cfg.storage = &storage;
  std::unique_ptr<RawNode> n = *RawNode::Create(cfg);
  storage.requests = 0;  // Create looks at the snapshot once (to check where the log starts)
  auto handle = [&]() {
    std::vector<Message> out;
    while (n->HasReady()) {
      Ready rd = n->GetReady();
      if (!rd.entries.empty()) {
        EXPECT_TRUE(disk.Append(rd.entries).ok());
      }
      if (rd.hard_state) disk.SetHardState(*rd.hard_state);
      out.insert(out.end(), rd.messages.begin(), rd.messages.end());
      out.insert(out.end(), rd.messages_after_persist.begin(), rd.messages_after_persist.end());
      n->Advance();
    }
    return out;
  };
  n->Campaign();
  handle();
  ASSERT_TRUE(n->Step(Message{.type = MessageType::kVoteResp, .to = 1, .from = 2, .term = 2}).ok());
  ASSERT_EQ(RoleOf(*n), Role::kLeader);
  handle();
  // Node 2 has nothing: its rejection sends the leader below its first index.
  ASSERT_TRUE(n->Step(Message{.type = MessageType::kAppResp,
                              .to = 1,
                              .from = 2,
                              .term = 2,
                              .index = 5,
                              .reject = true,
                              .reject_hint = 0})
                  .ok());
  EXPECT_TRUE(OfType(handle(), MessageType::kSnap).empty());
  EXPECT_EQ(storage.requests, 1);
  storage.ready = true;
  n->Tick();  // heartbeat
  handle();
  ASSERT_TRUE(
      n->Step(Message{.type = MessageType::kHeartbeatResp, .to = 1, .from = 2, .term = 2}).ok());
  std::vector<Message> snaps = OfType(handle(), MessageType::kSnap);
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0].snapshot.metadata.index, 5u);
  EXPECT_EQ(n->GetStatus().progress[1].second.state, ProgressState::kSnapshot);
}

// ReportSnapshot: after a success the leader probes from just after the snapshot, after a
// failure from the follower's match index; nothing else is sent while the snapshot is pending.
TEST(Snapshots, ReportSnapshotMovesTheFollowerBackToProbe) {
  for (bool failed : {false, true}) {
    Cluster c;
    AddSnapshotMembers(c, {1, 2, 3});
    c.Elect(1);
    c.Isolate(3);
    for (int k = 0; k < 3; ++k) ASSERT_TRUE(c.raw(1).Propose("x").ok());
    c.Stabilize();
    const Index applied = c.node(1).applied_index();
    ASSERT_TRUE(c.node(1).CompactTo(applied).ok());
    c.SetDropFilter([](const Message& m) { return m.type == MessageType::kSnap; });
    c.Heal();
    c.Tick(1);
    c.Stabilize();
    ASSERT_EQ(Progress(c, 1, 3).state, ProgressState::kSnapshot);
    const Index match = Progress(c, 1, 3).match;
    c.raw(1).ReportSnapshot(3, failed);
    EXPECT_EQ(Progress(c, 1, 3).state, ProgressState::kProbe);
    EXPECT_EQ(Progress(c, 1, 3).next, failed ? match + 1 : applied + 1) << failed;
  }
}

// A snapshot lost on the way and never reported is sent again after 10 election timeouts.
TEST(Snapshots, UnacknowledgedSnapshotIsSentAgain) {
  Cluster c;
  AddSnapshotMembers(c, {1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(c.raw(1).Propose("x").ok());
  c.Stabilize();
  ASSERT_TRUE(c.node(1).CompactTo(c.node(1).applied_index()).ok());
  int snaps = 0;
  bool lose = true;
  c.SetDropFilter([&](const Message& m) {
    if (m.type != MessageType::kSnap) return false;
    ++snaps;
    return lose;
  });
  c.Heal();
  c.Tick(1);
  c.Stabilize();
  ASSERT_EQ(snaps, 1);
  lose = false;
  for (int k = 0; k < 10 * 10 - 2; ++k) {
    c.Tick(1);
    c.Stabilize();
  }
  EXPECT_EQ(snaps, 1);
  EXPECT_EQ(Progress(c, 1, 3).state, ProgressState::kSnapshot);
  for (int k = 0; k < 3; ++k) {
    c.Tick(1);
    c.Stabilize();
  }
  EXPECT_EQ(snaps, 2);
  EXPECT_EQ(Data(c.node(3)), Data(c.node(1)));
}

// A snapshot no newer than what the follower has committed is ignored.
TEST(Snapshots, FollowerIgnoresSnapshotAtOrBelowItsCommitIndex) {
  auto n = testing::NodeWithLog(2, {1, 2}, {1, 1, 1}, HardState{.term = 1, .commit = 3});
  ASSERT_TRUE(
      n->node()
          .Step(Message{
              .type = MessageType::kSnap,
              .to = 2,
              .from = 1,
              .term = 1,
              .snapshot = {.metadata = {.conf_state = {.voters = {1, 2}}, .index = 2, .term = 1}}})
          .ok());
  std::vector<Message> resp = OfType(Drain(*n), MessageType::kAppResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_EQ(resp[0].index, 3u);
  EXPECT_EQ(n->storage().FirstIndex(), 1u);
}

// A snapshot whose last entry the follower already has only moves the commit index: the log
// after it is kept.
TEST(Snapshots, FollowerHoldingTheSnapshotsLastEntryOnlyAdvancesCommit) {
  auto n = testing::NodeWithLog(2, {1, 2}, {1, 1, 1, 1}, HardState{.term = 1, .commit = 1});
  ASSERT_TRUE(
      n->node()
          .Step(Message{
              .type = MessageType::kSnap,
              .to = 2,
              .from = 1,
              .term = 1,
              .snapshot = {.metadata = {.conf_state = {.voters = {1, 2}}, .index = 3, .term = 1}}})
          .ok());
  Drain(*n);
  EXPECT_EQ(CommitOf(n->node()), 3u);
  EXPECT_EQ(LogTerms(*n).size(), 4u);
  EXPECT_EQ(n->storage().FirstIndex(), 1u);
}

// A node restarted from a compacted storage resumes from the snapshot and its log after it.
TEST(Snapshots, NodeRestartsFromCompactedStorage) {
  Cluster c;
  AddSnapshotMembers(c, {1, 2, 3});
  c.Elect(1);
  for (int k = 0; k < 4; ++k) ASSERT_TRUE(c.raw(1).Propose("e" + std::to_string(k)).ok());
  c.Stabilize();
  ASSERT_TRUE(c.node(2).CompactTo(4).ok());
  const Status before = c.raw(2).GetStatus();
  c.node(2).Restart();
  const Status after = c.raw(2).GetStatus();
  EXPECT_EQ(after.hard_state, before.hard_state);
  EXPECT_EQ(after.last_index, before.last_index);
  EXPECT_EQ(after.applied, before.applied);
  EXPECT_EQ(after.conf_state, before.conf_state);
  ASSERT_TRUE(c.raw(1).Propose("after").ok());
  c.Stabilize();
  EXPECT_EQ(c.node(2).applied().back().second, "after");
}

}  // namespace
}  // namespace kvd::raft
