// Randomized runs of a five-node cluster with message loss, duplication and reordering,
// partitions, crashes (losing everything not yet persisted) and log compaction, checking after
// every step that:
//  - election safety: at most one leader per term;
//  - state machine safety: an entry committed on any node is the entry every node holds (or
//    applies) at that index, forever;
// with membership changes (nodes 4 and 5 removed, added back as learners or voters) mixed in,
// and, once the faults stop, that the cluster elects a leader and commits a new entry everywhere.
//
// Each seed prints on failure; replay one with KVD_RAFT_SEED=<seed>. (The cluster simulator in
// tests/sim goes much further; this is the core's own smoke screen.)
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/progress.h"
#include "raft/testing/cluster.h"
#include "raft/testing/helpers.h"

namespace kvd::raft {
namespace {

using testing::Cluster;
using testing::RoleOf;

class RandomRun {
 public:
  explicit RandomRun(uint64_t seed) : rng_(seed) {
    const bool pre_vote = rng_() % 2 == 0;
    const bool check_quorum = rng_() % 2 == 0;
    testing::AddSnapshotMembers(c_, {1, 2, 3, 4, 5}, {}, [&](Config& cfg) {
      cfg.pre_vote = pre_vote;
      cfg.check_quorum = check_quorum;
      cfg.seed = seed;
      cfg.max_inflight_msgs = 4;
      cfg.max_size_per_msg = 64;
    });
  }

  // One random action; returns a description of a violated property, or "".
  std::string Step() {
    const NodeId id = 1 + rng_() % 5;
    const uint64_t dice = rng_() % 100;
    if (dice < 15) {
      c_.Tick(id);
    } else if (dice < 30) {
      (void)c_.raw(id).Propose("v" + std::to_string(next_value_++));
    } else if (dice < 55) {
      c_.ProcessReady(id);
    } else if (dice < 85) {
      Deliver(id);
    } else if (dice < 86) {
      c_.Isolate(id);
    } else if (dice < 90) {
      c_.Heal();
    } else if (dice < 91) {
      Crash(id);
    } else if (dice < 93) {
      const Index applied = c_.node(id).applied_index();
      if (applied > c_.node(id).storage().FirstIndex() + 3) {
        (void)c_.node(id).CompactTo(applied - 2);
      }
    } else if (dice < 95) {
      static const ConfChange kChanges[] = {
          {.type = ConfChangeType::kRemoveNode, .node_id = 5},
          {.type = ConfChangeType::kAddLearnerNode, .node_id = 5},
          {.type = ConfChangeType::kAddNode, .node_id = 5},
          {.type = ConfChangeType::kRemoveNode, .node_id = 4},
          {.type = ConfChangeType::kAddNode, .node_id = 4},
      };
      (void)c_.raw(id).ProposeConfChange(kChanges[rng_() % 5]);
    } else {
      c_.raw(id).ReadIndex("r");
    }
    return Check();
  }

  // Heals everything and runs until a leader commits one more entry on every node.
  std::string Settle() {
    c_.Heal();
    for (int round = 0; round < 400; ++round) {
      for (NodeId id : c_.ids()) c_.Tick(id);
      c_.Stabilize();
      if (std::string v = Check(); !v.empty()) return v;
      NodeId leader = kNoNode;
      for (NodeId id : c_.ids()) {
        if (RoleOf(c_.raw(id)) == Role::kLeader) leader = id;
      }
      if (leader == kNoNode) continue;
      // A proposal made to an earlier leader may have been lost with its leadership: propose
      // again to each new leader.
      const Term term = c_.raw(leader).GetStatus().hard_state.term;
      if (final_proposed_to_ != std::make_pair(leader, term)) {
        if (c_.raw(leader).Propose("final").ok()) final_proposed_to_ = {leader, term};
        continue;
      }
      bool everywhere = true;
      const ConfState members = c_.raw(leader).GetStatus().conf_state;
      std::vector<NodeId> ids = members.voters;
      ids.insert(ids.end(), members.learners.begin(), members.learners.end());
      for (NodeId id : ids) {
        const auto& a = c_.node(id).applied();
        everywhere = everywhere && !a.empty() && a.back().second == "final";
      }
      if (everywhere) return "";
    }
    std::string state;
    for (NodeId id : c_.ids()) {
      const Status st = c_.raw(id).GetStatus();
      state += "\n  " + std::to_string(id) + ": role=" + RoleName(st.soft_state.role) +
               " term=" + std::to_string(st.hard_state.term) +
               " lead=" + std::to_string(st.soft_state.leader) +
               " commit=" + std::to_string(st.hard_state.commit) +
               " applied=" + std::to_string(st.applied) + " last=" + std::to_string(st.last_index) +
               " first=" + std::to_string(c_.node(id).storage().FirstIndex());
      for (const auto& [peer, pr] : st.progress) {
        state += "\n    " + std::to_string(peer) + ": " + ProgressStateName(pr.state) +
                 " match=" + std::to_string(pr.match) + " next=" + std::to_string(pr.next);
      }
    }
    return "no progress after the faults stopped:" + state;
  }

  void PrintStats(uint64_t seed) {
    int confs = 0;
    for (const auto& [i, e] : committed_) confs += e.type == EntryType::kConfChange;
    fprintf(stderr, "seed %lu: committed=%zu confchanges=%d terms=%zu\n", (unsigned long)seed,
            committed_.size(), confs, leaders_.size());
  }

 private:
  void Deliver(NodeId id) {
    std::vector<Message>& in = c_.inbox(id);
    std::vector<Message> out;
    for (Message& m : in) {
      const uint64_t d = rng_() % 100;
      if (d < 10) continue;          // lost
      if (d < 15) out.push_back(m);  // duplicated
      out.push_back(std::move(m));
    }
    std::shuffle(out.begin(), out.end(), rng_);  // reordered
    in = std::move(out);
    c_.DeliverMessages(id);
  }

  void Crash(NodeId id) {
    testing::TestNode& n = c_.node(id);
    switch (rng_() % 3) {
      case 0:  // before persisting the Ready it was handed
        if (n.node().HasReady()) (void)n.node().GetReady();
        break;
      case 1:  // after persisting, before sending anything
        if (n.node().HasReady()) (void)n.HandleReady();
        break;
      default:
        break;
    }
    n.Restart();
    c_.inbox(id).clear();
  }

  std::string Check() {
    for (NodeId id : c_.ids()) {
      const Status st = c_.raw(id).GetStatus();
      if (st.soft_state.role == Role::kLeader) {
        auto [it, inserted] = leaders_.emplace(st.hard_state.term, id);
        if (!inserted && it->second != id) {
          return "two leaders in term " + std::to_string(st.hard_state.term) + ": " +
                 std::to_string(it->second) + " and " + std::to_string(id);
        }
      }
      // Every committed entry in the node's durable log matches what was committed before.
      MemoryStorage& s = c_.node(id).storage();
      const Index commit = std::min(s.hard_state().commit, s.LastIndex());
      for (Index i = std::max(s.FirstIndex(), checked_[id] + 1); i <= commit; ++i) {
        const Entry e = s.Entries(i, i + 1, UINT64_MAX)->at(0);
        auto [it, inserted] = committed_.emplace(i, e);
        if (!inserted && !(it->second == e)) {
          return "node " + std::to_string(id) + " committed a different entry at index " +
                 std::to_string(i);
        }
      }
      checked_[id] = std::max(checked_[id], commit);
    }
    return "";
  }

  std::mt19937_64 rng_;
  Cluster c_;
  int next_value_ = 0;
  std::pair<NodeId, Term> final_proposed_to_{kNoNode, 0};
  std::map<Term, NodeId> leaders_;
  std::map<Index, Entry> committed_;
  std::map<NodeId, Index> checked_;
};

void RunSeed(uint64_t seed, int steps) {
  RandomRun run(seed);
  for (int k = 0; k < steps; ++k) {
    const std::string violation = run.Step();
    ASSERT_TRUE(violation.empty()) << "seed " << seed << ", step " << k << ": " << violation;
  }
  const std::string violation = run.Settle();
  if (std::getenv("KVD_RAFT_STATS")) run.PrintStats(seed);
  ASSERT_TRUE(violation.empty()) << "seed " << seed << " after the faults: " << violation;
}

TEST(RandomizedFaults, SafetyHoldsAndClusterRecovers) {
  if (const char* s = std::getenv("KVD_RAFT_SEED")) {
    RunSeed(std::strtoull(s, nullptr, 10), 2000);
    return;
  }
  // KVD_RAFT_SEEDS=<n> runs more seeds than the 40 of a normal run.
  const char* n = std::getenv("KVD_RAFT_SEEDS");
  const uint64_t seeds = n == nullptr ? 40 : std::strtoull(n, nullptr, 10);
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    RunSeed(seed, 1500);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace kvd::raft
