// The safety monitor must fire on each kind of violation it claims to detect, and stay quiet on
// the legal versions of the same situations. Nodes here are never booted: the monitor only reads
// their disks, their in-flight Ready and their state machine bookkeeping.
#include "tests/sim/safety_monitor.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/rawnode.h"

namespace kvd::sim {
namespace {

using raft::Entry;
using raft::Ready;
using raft::Role;

class SafetyMonitorTest : public ::testing::Test {
 protected:
  SafetyMonitorTest() : monitor_(&nodes_) {
    for (raft::NodeId id = 1; id <= 3; ++id) {
      auto disk = std::make_unique<raft::MemoryStorage>(raft::ConfState{{1, 2, 3}, {}});
      disk->SetHardState(raft::HardState{1, 0, 0});
      nodes_[id] = std::make_unique<SimNode>(id, std::move(disk));
      nodes_[id]->set_conf(raft::ConfState{{1, 2, 3}, {}});
    }
  }

  SimNode& node(raft::NodeId id) { return *nodes_[id]; }

  static raft::Status StatusOf(raft::NodeId id, raft::Term term, Role role) {
    raft::Status st;
    st.id = id;
    st.hard_state.term = term;
    st.soft_state.role = role;
    st.soft_state.leader = role == Role::kLeader ? id : raft::kNoNode;
    return st;
  }

  static Entry E(raft::Index i, raft::Term t, std::string data = "") {
    return Entry{t, i, raft::EntryType::kNormal, std::move(data)};
  }

  // Feeds a Ready through the node (as the simulation does) and, when persist, makes it durable.
  void Feed(raft::NodeId id, Ready rd, raft::Term term, Role role, bool persist = true) {
    SimNode& n = node(id);
    raft::Index prev_last = n.ObservedLastIndex();
    n.SetInflightForTest(std::move(rd));
    monitor_.OnReady(n, n.inflight(), prev_last, StatusOf(id, term, role));
    if (persist) {
      ASSERT_TRUE(n.PersistReady().ok());
      n.DropInflightForTest();
    }
  }

  std::string Fired() const {
    return monitor_.violation().has_value() ? monitor_.violation()->property : "";
  }

  SafetyMonitor::NodeMap nodes_;
  SafetyMonitor monitor_;
};

TEST_F(SafetyMonitorTest, ElectionSafety) {
  monitor_.OnStatus(node(1), StatusOf(1, 5, Role::kLeader));
  monitor_.OnStatus(node(1), StatusOf(1, 5, Role::kLeader));
  monitor_.OnStatus(node(2), StatusOf(2, 6, Role::kLeader));
  monitor_.OnStatus(node(3), StatusOf(3, 5, Role::kFollower));
  EXPECT_EQ(Fired(), "");
  monitor_.OnStatus(node(3), StatusOf(3, 5, Role::kLeader));
  EXPECT_EQ(Fired(), "election safety");
}

TEST_F(SafetyMonitorTest, LeaderAppendOnly) {
  Ready first;
  first.entries = {E(1, 2), E(2, 2, "a"), E(3, 2, "b")};
  first.must_sync = true;
  Feed(1, first, 2, Role::kLeader);
  Ready next;
  next.entries = {E(4, 2, "c")};
  next.must_sync = true;
  Feed(1, next, 2, Role::kLeader);
  EXPECT_EQ(Fired(), "");
  // Even rewriting an entry with itself is not appending (with other data, log matching would
  // fire first).
  Ready rewrite;
  rewrite.entries = {E(3, 2, "b")};
  rewrite.must_sync = true;
  Feed(1, rewrite, 2, Role::kLeader);
  EXPECT_EQ(Fired(), "leader append-only");
}

TEST_F(SafetyMonitorTest, FollowerMayTruncate) {
  Ready a;
  a.entries = {E(1, 1, "a"), E(2, 1, "b")};
  a.must_sync = true;
  Feed(2, a, 1, Role::kFollower);
  Ready b;
  b.entries = {E(2, 2, "c")};
  b.must_sync = true;
  Feed(2, b, 2, Role::kFollower);
  EXPECT_EQ(Fired(), "");
}

TEST_F(SafetyMonitorTest, LogMatchingSameIndexAndTermDifferentData) {
  Ready a;
  a.entries = {E(1, 1, "x")};
  a.must_sync = true;
  Feed(1, a, 1, Role::kFollower);
  Ready b;
  b.entries = {E(1, 1, "y")};
  b.must_sync = true;
  Feed(2, b, 1, Role::kFollower);
  EXPECT_EQ(Fired(), "log matching");
}

TEST_F(SafetyMonitorTest, LogMatchingDifferentPredecessor) {
  Ready a;
  a.entries = {E(1, 1, "x"), E(2, 3, "z")};
  a.must_sync = true;
  Feed(1, a, 3, Role::kFollower);
  Ready b;
  b.entries = {E(1, 2, "y"), E(2, 3, "z")};
  b.must_sync = true;
  Feed(2, b, 3, Role::kFollower);
  EXPECT_EQ(Fired(), "log matching");
}

TEST_F(SafetyMonitorTest, LeaderCompleteness) {
  // Node 1 applies entry 2/1 as committed while in term 1.
  Ready a;
  a.entries = {E(1, 1, "a"), E(2, 1, "b")};
  a.must_sync = true;
  Feed(1, a, 1, Role::kFollower);
  Ready commit;
  commit.hard_state = raft::HardState{1, 0, 2};
  commit.committed_entries = {E(1, 1, "a"), E(2, 1, "b")};
  commit.must_sync = true;
  Feed(1, commit, 1, Role::kFollower);
  EXPECT_EQ(Fired(), "");
  // Node 3 leads term 2 with another entry at index 2.
  Ready b;
  b.entries = {E(1, 1, "a"), E(2, 2, "")};
  b.must_sync = true;
  Feed(3, b, 2, Role::kLeader);
  EXPECT_EQ(Fired(), "leader completeness");
}

TEST_F(SafetyMonitorTest, StateMachineSafety) {
  monitor_.OnApply(node(1), E(4, 2, "a"), 100);
  monitor_.OnApply(node(2), E(4, 2, "a"), 100);
  EXPECT_EQ(Fired(), "");
  monitor_.OnApply(node(3), E(4, 3, "b"), 100);
  EXPECT_EQ(Fired(), "state machine safety");
}

TEST_F(SafetyMonitorTest, StateMachineImagesMustAgree) {
  monitor_.OnApply(node(1), E(4, 2, "a"), 100);
  monitor_.OnSnapshotInstalled(node(2), 4, 2, 101);
  EXPECT_EQ(Fired(), "state machine safety");
}

TEST_F(SafetyMonitorTest, CommitDurability) {
  // Leader 1 of term 2 appends entry 1; only its own disk has it when its commit moves to 1.
  Ready a;
  a.hard_state = raft::HardState{2, 1, 0};
  a.entries = {E(1, 2)};
  a.must_sync = true;
  Feed(1, a, 2, Role::kLeader);
  Ready commit;
  commit.hard_state = raft::HardState{2, 1, 1};
  commit.must_sync = false;
  Feed(1, commit, 2, Role::kLeader);
  EXPECT_EQ(Fired(), "commitment");
}

TEST_F(SafetyMonitorTest, CommitOnDurableMajorityIsFine) {
  Ready a;
  a.hard_state = raft::HardState{2, 1, 0};
  a.entries = {E(1, 2)};
  a.must_sync = true;
  Feed(1, a, 2, Role::kLeader);
  Feed(2, a, 2, Role::kFollower);
  Ready commit;
  commit.hard_state = raft::HardState{2, 1, 1};
  Feed(1, commit, 2, Role::kLeader);
  EXPECT_EQ(Fired(), "");
}

TEST_F(SafetyMonitorTest, CommitOfAnEarlierTermByCountingReplicas) {
  // Entry 1/1 from an earlier term is on all three disks; leader 1 of term 3 has its own entry
  // 2/3 only on its own disk. Announcing commit 1 then is Figure 8's mistake.
  Ready old;
  old.hard_state = raft::HardState{1, 0, 0};
  old.entries = {E(1, 1, "x")};
  old.must_sync = true;
  Feed(1, old, 1, Role::kFollower);
  Feed(2, old, 1, Role::kFollower);
  Feed(3, old, 1, Role::kFollower);
  Ready lead;
  lead.hard_state = raft::HardState{3, 1, 0};
  lead.entries = {E(2, 3)};
  lead.must_sync = true;
  Feed(1, lead, 3, Role::kLeader);
  raft::Message hb;
  hb.type = raft::MessageType::kHeartbeat;
  hb.from = 1;
  hb.to = 2;
  hb.term = 3;
  hb.commit = 0;
  monitor_.OnSend(node(1), hb);  // the first announcement of a leadership sets the baseline
  EXPECT_EQ(Fired(), "");
  hb.commit = 1;
  monitor_.OnSend(node(1), hb);
  EXPECT_EQ(Fired(), "commitment");
}

TEST_F(SafetyMonitorTest, CommitThroughAnEntryOfTheLeadersTerm) {
  Ready old;
  old.hard_state = raft::HardState{1, 0, 0};
  old.entries = {E(1, 1, "x")};
  old.must_sync = true;
  Feed(1, old, 1, Role::kFollower);
  Feed(2, old, 1, Role::kFollower);
  Ready lead;
  lead.hard_state = raft::HardState{3, 1, 0};
  lead.entries = {E(2, 3)};
  lead.must_sync = true;
  Feed(1, lead, 3, Role::kLeader);
  Ready follow;
  follow.entries = {E(2, 3)};
  follow.must_sync = true;
  Feed(2, follow, 3, Role::kFollower);
  raft::Message hb;
  hb.type = raft::MessageType::kHeartbeat;
  hb.from = 1;
  hb.to = 2;
  hb.term = 3;
  monitor_.OnSend(node(1), hb);
  hb.commit = 2;
  monitor_.OnSend(node(1), hb);
  EXPECT_EQ(Fired(), "");
}

TEST_F(SafetyMonitorTest, ReadIndexBelowAKnownCommit) {
  Ready a;
  a.hard_state = raft::HardState{2, 1, 0};
  a.entries = {E(1, 2, "x"), E(2, 2, "y")};
  a.must_sync = true;
  Feed(1, a, 2, Role::kFollower);
  Ready c;
  c.hard_state = raft::HardState{2, 1, 2};
  Feed(1, c, 2, Role::kFollower);
  monitor_.OnReadIndexRequested("late");
  monitor_.OnReadState(node(2), raft::ReadState{2, "late"});
  EXPECT_EQ(Fired(), "");
  monitor_.OnReadState(node(2), raft::ReadState{1, "late"});
  EXPECT_EQ(Fired(), "read index safety");
}

TEST_F(SafetyMonitorTest, ContractAppendAckBeforePersist) {
  Ready rd;
  rd.entries = {E(1, 1, "a")};
  rd.must_sync = true;
  raft::Message ack;
  ack.type = raft::MessageType::kAppResp;
  ack.from = 2;
  ack.to = 1;
  ack.term = 1;
  ack.index = 1;
  rd.messages = {ack};
  Feed(2, rd, 1, Role::kFollower);
  EXPECT_EQ(Fired(), "ready contract");
}

TEST_F(SafetyMonitorTest, ContractVoteGrantBeforePersist) {
  Ready rd;
  rd.hard_state = raft::HardState{2, 1, 0};
  rd.must_sync = true;
  raft::Message grant;
  grant.type = raft::MessageType::kVoteResp;
  grant.from = 2;
  grant.to = 1;
  grant.term = 2;
  rd.messages = {grant};
  Feed(2, rd, 2, Role::kFollower);
  EXPECT_EQ(Fired(), "ready contract");
}

TEST_F(SafetyMonitorTest, ContractCommittedEntryNotDurable) {
  Ready rd;
  rd.entries = {E(1, 1, "a")};
  rd.committed_entries = {E(1, 1, "a")};
  rd.must_sync = true;
  Feed(2, rd, 1, Role::kFollower);
  EXPECT_EQ(Fired(), "ready contract");
}

TEST_F(SafetyMonitorTest, ContractUnsyncedEntries) {
  Ready rd;
  rd.entries = {E(1, 1, "a")};
  rd.must_sync = false;
  Feed(2, rd, 1, Role::kFollower);
  EXPECT_EQ(Fired(), "ready contract");
}

TEST_F(SafetyMonitorTest, AllDisksMustMatch) {
  Ready a;
  a.entries = {E(1, 1, "a"), E(2, 2, "b")};
  a.must_sync = true;
  Feed(1, a, 2, Role::kFollower);
  monitor_.CheckAllDisks();
  EXPECT_EQ(Fired(), "");
  // Written behind the monitor's back: node 2 holds entry 2/2 after a different entry 1/1.
  Ready b;
  b.entries = {E(1, 1, "other"), E(2, 2, "b")};
  b.must_sync = true;
  node(2).SetInflightForTest(b);
  ASSERT_TRUE(node(2).PersistReady().ok());
  node(2).DropInflightForTest();
  monitor_.CheckAllDisks();
  EXPECT_EQ(Fired(), "log matching");
}

}  // namespace
}  // namespace kvd::sim
