// The simulator's parts whose mistakes would make its verdicts meaningless: the replicated state
// machine and its sessions, the command and snapshot formats, the network's fault model, the
// crash model of SimNode (what survives a crash mid-write or a power loss) and the PRNG.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "raft/memory_storage.h"
#include "tests/sim/kv_state_machine.h"
#include "tests/sim/sim_network.h"
#include "tests/sim/sim_node.h"
#include "tests/sim/sim_random.h"

namespace kvd::sim {
namespace {

KvCommand Put(uint64_t client, uint64_t seq, std::string key, std::string value) {
  return KvCommand{KvCommandKind::kPut, client, seq, std::move(key), std::move(value), {}};
}
KvCommand Cas(uint64_t client, uint64_t seq, std::string key, std::optional<std::string> expected,
              std::string value) {
  return KvCommand{KvCommandKind::kCas, client,           seq,
                   std::move(key),      std::move(value), std::move(expected)};
}
KvCommand Del(uint64_t client, uint64_t seq, std::string key) {
  return KvCommand{KvCommandKind::kDelete, client, seq, std::move(key), "", {}};
}

TEST(KvStateMachine, PutCasDelete) {
  KvStateMachine sm;
  EXPECT_TRUE(sm.Apply(Cas(1, 1, "k", std::nullopt, "a")).succeeded);  // create if absent
  EXPECT_EQ(sm.Get("k"), "a");
  EXPECT_FALSE(sm.Apply(Cas(1, 2, "k", "zz", "b")).succeeded);
  EXPECT_EQ(sm.Get("k"), "a");
  EXPECT_TRUE(sm.Apply(Cas(2, 1, "k", "a", "b")).succeeded);
  EXPECT_EQ(sm.Get("k"), "b");
  EXPECT_TRUE(sm.Apply(Put(2, 2, "k", "c")).succeeded);
  EXPECT_TRUE(sm.Apply(Del(2, 3, "k")).succeeded);
  EXPECT_EQ(sm.Get("k"), std::nullopt);
  EXPECT_FALSE(sm.Apply(Del(2, 4, "k")).succeeded);
}

TEST(KvStateMachine, SessionsMakeRetriesSingleEffect) {
  KvStateMachine sm;
  sm.Apply(Put(1, 1, "k", "a"));
  EXPECT_TRUE(sm.Apply(Cas(2, 7, "k", "a", "b")).succeeded);
  sm.Apply(Put(1, 2, "k", "c"));
  // The retried cas is answered from the session: succeeded, and nothing changes.
  KvAnswer again = sm.Apply(Cas(2, 7, "k", "a", "b"));
  EXPECT_TRUE(again.duplicate);
  EXPECT_TRUE(again.succeeded);
  EXPECT_EQ(sm.Get("k"), "c");
  // An older command of a client is ignored.
  KvAnswer old = sm.Apply(Put(2, 6, "k", "old"));
  EXPECT_TRUE(old.stale);
  EXPECT_EQ(sm.Get("k"), "c");
}

TEST(KvStateMachine, SnapshotRoundTripAndFingerprint) {
  KvStateMachine sm;
  sm.Apply(Put(1, 1, "a", "x"));
  sm.Apply(Put(2, 5, "b", "y"));
  sm.Apply(Cas(3, 2, "a", "nope", "z"));
  absl::StatusOr<KvStateMachine> back = KvStateMachine::Restore(sm.Serialize());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->Serialize(), sm.Serialize());
  EXPECT_EQ(back->Fingerprint(), sm.Fingerprint());
  // Sessions are part of the state: a retry after a restore is still recognised.
  EXPECT_TRUE(back->Apply(Put(2, 5, "b", "y")).duplicate);
  back->Apply(Put(1, 2, "a", "w"));
  EXPECT_NE(back->Fingerprint(), sm.Fingerprint());
  EXPECT_FALSE(KvStateMachine::Restore("garbage").ok());
  EXPECT_FALSE(KvStateMachine::Restore("kvsm1\nq 1 2\n").ok());
}

TEST(KvCommandFormat, RoundTrip) {
  std::vector<KvCommand> cmds = {Put(1, 2, "k0", "c1-2"), Cas(3, 4, "k1", std::nullopt, "v"),
                                 Cas(3, 5, "k1", "v", "w"), Del(9, 10, "k2"),
                                 KvCommand{KvCommandKind::kProbe, 0, 7, "", "", {}}};
  for (const KvCommand& c : cmds) {
    absl::StatusOr<KvCommand> back = DecodeCommand(EncodeCommand(c));
    ASSERT_TRUE(back.ok()) << EncodeCommand(c) << ": " << back.status();
    EXPECT_EQ(*back, c) << EncodeCommand(c);
  }
  EXPECT_EQ(EncodeCommand(Cas(3, 4, "k1", std::nullopt, "v")), "kv1 cas 3 4 k1 - v");
  EXPECT_FALSE(DecodeCommand("").ok());
  EXPECT_FALSE(DecodeCommand("kv2 put 1 1 k v").ok());
  EXPECT_FALSE(DecodeCommand("kv1 put 1 1 k").ok());
  EXPECT_FALSE(DecodeCommand("kv1 frob 1 1 k").ok());
}

TEST(SimNetwork, BlocksDropsAndDuplicates) {
  SimRandom rng(1);
  SimNetwork net;
  LinkRates rates;
  rates.min_delay = 2;
  rates.max_delay = 5;
  net.set_rates(rates);
  for (int i = 0; i < 100; ++i) {
    std::vector<SimTime> d = net.Route(1, 2, rng);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_GE(d[0], 2);
    EXPECT_LE(d[0], 5);
  }
  net.Block(1, 2);
  net.Block(1, 2);
  EXPECT_TRUE(net.Route(1, 2, rng).empty());
  EXPECT_EQ(net.Route(2, 1, rng).size(), 1u);  // one way only
  net.Unblock(1, 2);
  EXPECT_TRUE(net.Blocked(1, 2));  // blocks are counted
  net.Unblock(1, 2);
  EXPECT_FALSE(net.Blocked(1, 2));
  rates.drop_per_mille = 1000;
  net.set_rates(rates);
  EXPECT_TRUE(net.Route(1, 2, rng).empty());
  rates.drop_per_mille = 0;
  rates.duplicate_per_mille = 1000;
  net.set_rates(rates);
  EXPECT_EQ(net.Route(1, 2, rng).size(), 2u);
}

TEST(SimRandom, DeterministicAndInRange) {
  SimRandom a(42);
  SimRandom b(42);
  SimRandom c(43);
  bool differs = false;
  std::set<int64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    int64_t x = a.Range(-3, 3);
    EXPECT_EQ(x, b.Range(-3, 3));
    differs = differs || x != c.Range(-3, 3);
    EXPECT_GE(x, -3);
    EXPECT_LE(x, 3);
    seen.insert(x);
  }
  EXPECT_TRUE(differs);
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_NE(DeriveSeed(1, 2, 3), DeriveSeed(1, 3, 2));
}

// A single-voter node driven by hand, to check what survives which crash.
class SimNodeCrashTest : public ::testing::Test {
 protected:
  SimNodeCrashTest() {
    auto disk = std::make_unique<raft::MemoryStorage>();
    raft::Snapshot boot;
    boot.metadata.index = 1;
    boot.metadata.term = 1;
    boot.metadata.conf_state.voters = {1};
    boot.data = KvStateMachine().Serialize();
    EXPECT_TRUE(disk->ApplySnapshot(boot).ok());
    disk->SetHardState(raft::HardState{1, 0, 1});
    node_ = std::make_unique<SimNode>(1, std::move(disk));
    Boot();
  }

  void Boot() {
    raft::Config c;
    c.election_tick = 10;
    c.heartbeat_tick = 1;
    c.seed = 7;
    absl::Status s = node_->Boot(c);
    ASSERT_TRUE(s.ok()) << s;
  }

  // Handles Readys fully, applying what they commit, until there are none. Returns the last
  // index handed out for applying.
  raft::Index Settle() {
    raft::Index handed = node_->applied();
    for (int i = 0; i < 20 && node_->raw().HasReady(); ++i) {
      const raft::Ready& rd = node_->TakeReady();
      std::vector<raft::Entry> committed = rd.committed_entries;
      EXPECT_TRUE(node_->PersistReady().ok());
      for (const raft::Entry& e : committed) {
        if (!e.data.empty()) node_->sm().Apply(*DecodeCommand(e.data));
        node_->set_applied(e.index);
        handed = e.index;
      }
      node_->FinishReady();
    }
    return handed;
  }

  void BecomeLeader() {
    node_->raw().Campaign();
    Settle();
    ASSERT_EQ(node_->raw().GetStatus().soft_state.role, raft::Role::kLeader);
  }

  std::unique_ptr<SimNode> node_;
};

TEST_F(SimNodeCrashTest, CrashBeforeTheWriteLosesTheNewTerm) {
  node_->raw().Campaign();
  ASSERT_TRUE(node_->raw().HasReady());
  const raft::Ready& rd = node_->TakeReady();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_GT(rd.hard_state->term, 1u);
  node_->Crash(0, false);
  EXPECT_FALSE(node_->up());
  EXPECT_EQ(node_->disk().hard_state().term, 1u);
  Boot();
  EXPECT_EQ(node_->raw().GetStatus().hard_state.term, 1u);
}

TEST_F(SimNodeCrashTest, TornWriteKeepsAPrefixOfTheEntries) {
  BecomeLeader();
  raft::Index last = node_->disk().LastIndex();
  ASSERT_TRUE(node_->raw().Propose("kv1 probe 1").ok());
  ASSERT_TRUE(node_->raw().Propose("kv1 probe 2").ok());
  const raft::Ready& rd = node_->TakeReady();
  ASSERT_EQ(rd.entries.size(), 2u);
  // Cut points: 0 nothing, 1 snapshot, 2 first entry, 3 both entries, 4 and the hard state.
  ASSERT_EQ(node_->InflightCutPoints(), 5u);
  node_->Crash(2, false);
  EXPECT_EQ(node_->disk().LastIndex(), last + 1);
  Boot();
  EXPECT_EQ(node_->raw().GetStatus().last_index, last + 1);
}

TEST_F(SimNodeCrashTest, PowerLossLosesOnlyUnsyncedWrites) {
  BecomeLeader();
  ASSERT_TRUE(node_->raw().Propose("kv1 probe 1").ok());
  raft::Index synced_commit = 0;
  raft::Index unsynced_commit = 0;
  for (int i = 0; i < 20 && node_->raw().HasReady(); ++i) {
    const raft::Ready& rd = node_->TakeReady();
    if (rd.must_sync) {
      synced_commit =
          rd.hard_state.has_value() ? rd.hard_state->commit : node_->disk().hard_state().commit;
    } else if (rd.hard_state.has_value()) {
      EXPECT_TRUE(rd.entries.empty());
      unsynced_commit = rd.hard_state->commit;
    }
    ASSERT_TRUE(node_->PersistReady().ok());
    node_->FinishReady();
  }
  ASSERT_GT(unsynced_commit, synced_commit) << "expected a commit-only Ready without sync";
  raft::Index last = node_->disk().LastIndex();
  node_->Crash(0, true);
  EXPECT_EQ(node_->disk().hard_state().commit, synced_commit);
  EXPECT_EQ(node_->disk().LastIndex(), last);  // entries were synced
  Boot();
}

TEST_F(SimNodeCrashTest, RestartReappliesFromTheLastSnapshot) {
  BecomeLeader();
  ASSERT_TRUE(node_->raw().Propose("kv1 put 1 1 k v").ok());
  raft::Index applied = Settle();
  EXPECT_EQ(node_->sm().Get("k"), "v");
  node_->Crash(0, false);
  Boot();
  // The state machine persists only through snapshots: it restarts from the bootstrap one...
  EXPECT_EQ(node_->applied(), 1u);
  EXPECT_EQ(node_->sm().Get("k"), std::nullopt);
  // ...and the core hands out every committed entry after it again.
  EXPECT_GE(Settle(), applied);
  EXPECT_EQ(node_->sm().Get("k"), "v");
  // A snapshot then becomes the restart point.
  bool made = false;
  ASSERT_TRUE(node_->SnapshotAndCompact(0, &made).ok());
  EXPECT_TRUE(made);
  raft::Index snapshot_at = node_->applied();
  node_->Crash(0, false);
  Boot();
  EXPECT_EQ(node_->applied(), snapshot_at);
  EXPECT_EQ(node_->sm().Get("k"), "v");
}

}  // namespace
}  // namespace kvd::sim
