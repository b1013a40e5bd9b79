// Randomized runs of a five-node cluster whose owners handle each Ready in stages, at random later
// points, as far as THE READY CONTRACT (raft/rawnode.h) allows and no further:
//  - rd.messages leave at any point after GetReady(), before, during or after the write (a leader
//    replicates entries its own disk does not hold yet);
//  - the write (snapshot, entries, hard state) happens at some later step, and
//    rd.messages_after_persist leave at some point after it;
//  - Advance() comes at some point after the write, before or after the sends;
//  - committed entries are applied a few at a time, long after their Ready was advanced, while
//    later Readys are handled (ApplyConfChange as each conf change is applied); only a snapshot's
//    installation waits until everything handed out before it is applied (duty b);
//  - the state machine compacts its log up to its applied index (duty d), and nodes crash, losing
//    the unwritten Ready, the unsent messages and the handed-out but unapplied entries.
// Proposals, membership changes (nodes 4 and 5 removed and added back) and leader transfers are
// mixed in; the network loses, duplicates and reorders messages. After every step the test checks:
//  - election safety: at most one leader per term;
//  - committed entries never change: an entry committed in any node's durable log is the entry
//    every node's durable log holds at that index, forever;
//  - state machine safety: every node applies the same entry at each index, in index order, and
//    it is the committed one (a snapshot's image agrees with what others applied).
// Once the faults stop, the cluster must commit and apply a new entry on every voter.
//
// Each seed is printed before it runs (the core's own invariant checks abort the process); replay
// one with KVD_RAFT_STAGED_SEED=<seed>. KVD_RAFT_STAGED_SEEDS=<n> runs seeds 1..n instead of the
// default 25; KVD_RAFT_STATS=1 prints what each seed did.
#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "raft/check.h"
#include "raft/confchange.h"
#include "raft/memory_storage.h"
#include "raft/rawnode.h"
#include "raft/testing/cluster.h"
#include "raft/testing/helpers.h"

namespace kvd::raft {
namespace {

constexpr NodeId kNodes = 5;
// Random steps per seed before the faults stop.
constexpr int kSteps = 10000;

// The state machine image in a snapshot: the applied normal entries, one "index=data" per line.
std::string EncodeImage(const std::vector<std::pair<Index, std::string>>& applied, Index upto) {
  std::string out;
  for (const auto& [i, d] : applied) {
    if (i <= upto) absl::StrAppend(&out, i, "=", d, "\n");
  }
  return out;
}

std::vector<std::pair<Index, std::string>> DecodeImage(const std::string& image) {
  std::vector<std::pair<Index, std::string>> out;
  size_t pos = 0;
  while (pos < image.size()) {
    const size_t eq = image.find('=', pos);
    const size_t nl = image.find('\n', eq);
    out.emplace_back(std::stoull(image.substr(pos, eq - pos)), image.substr(eq + 1, nl - eq - 1));
    pos = nl + 1;
  }
  return out;
}

// One member and the owner that drives it in stages.
struct StagedMember {
  NodeId id = kNoNode;
  Config config;
  std::unique_ptr<MemoryStorage> disk;
  std::unique_ptr<RawNode> node;

  // The Ready being handled (between GetReady and Advance) and how far its handling got.
  std::optional<Ready> ready;
  bool immediate_sent = false;
  bool written = false;
  bool after_persist_sent = false;

  // Messages handed to the network layer but not yet on the wire.
  std::vector<Message> outbox;
  // Committed entries handed out and not yet applied, in order.
  std::deque<Entry> to_apply;

  // The state machine, durable as soon as an entry is applied.
  std::vector<std::pair<Index, std::string>> applied;
  Index applied_index = 0;
  // The membership from each index on (kept for snapshots below the applied index).
  std::vector<std::pair<Index, ConfState>> conf_history;

  ConfState ConfStateAt(Index i) const {
    ConfState cs;
    for (const auto& [at, c] : conf_history) {
      if (at <= i) cs = c;
    }
    return cs;
  }
};

class StagedRun {
 public:
  explicit StagedRun(uint64_t seed) : seed_(seed), rng_(seed) {
    const bool pre_vote = rng_() % 2 == 0;
    const bool check_quorum = rng_() % 2 == 0;
    const ConfState cs{.voters = {1, 2, 3, 4, 5}, .learners = {}};
    for (NodeId id = 1; id <= kNodes; ++id) {
      StagedMember& m = members_[id];
      m.id = id;
      m.config = testing::TestConfig(id);
      m.config.pre_vote = pre_vote;
      m.config.check_quorum = check_quorum;
      m.config.seed = seed;
      m.config.max_inflight_msgs = 4;
      m.config.max_size_per_msg = 64;
      m.disk = testing::SnapshotStorage(cs);
      m.applied_index = 1;
      m.conf_history = {{1, cs}};
      Start(m);
    }
  }

  // One random action; returns a description of a violated property, or "".
  std::string Step() {
    StagedMember& m = members_[1 + rng_() % kNodes];
    const uint64_t dice = rng_() % 1000;
    if (dice < 30) {
      m.node->Tick();
    } else if (dice < 140) {
      (void)m.node->Propose("v" + std::to_string(next_value_++));
    } else if (dice < 240) {
      TakeReady(m);
    } else if (dice < 320) {
      if (m.ready && !m.immediate_sent) SendImmediate(m);
    } else if (dice < 420) {
      if (m.ready && !m.written) Write(m);
    } else if (dice < 500) {
      if (m.ready && m.written && !m.after_persist_sent) SendAfterPersist(m);
    } else if (dice < 600) {
      if (m.ready && m.written) Advance(m);
    } else if (dice < 680) {
      ApplySome(m, 1 + rng_() % 3);
    } else if (dice < 780) {
      Transmit(m);
    } else if (dice < 967) {
      Deliver(m);
    } else if (dice < 970) {
      Crash(m);
    } else if (dice < 980) {
      if (m.applied_index > m.disk->FirstIndex() + 3) CompactTo(m, m.applied_index - 2);
    } else if (dice < 993) {
      static const ConfChange kChanges[] = {
          {.type = ConfChangeType::kRemoveNode, .node_id = 5},
          {.type = ConfChangeType::kAddNode, .node_id = 5},
          {.type = ConfChangeType::kRemoveNode, .node_id = 4},
          {.type = ConfChangeType::kAddNode, .node_id = 4},
      };
      (void)m.node->ProposeConfChange(kChanges[rng_() % 4]);
    } else {
      m.node->TransferLeader(1 + rng_() % kNodes);
    }
    return Check();
  }

  // The faults stop: every member handles its Readys fully and at once, the network delivers
  // everything. Returns "" once a leader's new entry is applied on every member, else why not.
  std::string Settle() {
    for (int round = 0; round < 300; ++round) {
      for (auto& [id, m] : members_) m.node->Tick();
      for (int pass = 0; pass < 50; ++pass) {
        bool busy = false;
        for (auto& [id, m] : members_) {
          while (m.ready || m.node->HasReady() || !m.to_apply.empty()) {
            busy = true;
            if (!m.ready) TakeReady(m);
            if (m.ready && !m.immediate_sent) SendImmediate(m);
            if (m.ready && !m.written) Write(m);
            if (m.ready && !m.after_persist_sent) SendAfterPersist(m);
            if (m.ready) Advance(m);
            ApplySome(m, m.to_apply.size());
          }
          busy |= !m.outbox.empty();
          Transmit(m);
        }
        for (auto& [id, m] : members_) {
          busy |= !inboxes_[id].empty();
          DeliverAll(m);
        }
        if (std::string v = Check(); !v.empty()) return v;
        if (!busy) break;
      }
      NodeId leader = kNoNode;
      for (auto& [id, m] : members_) {
        if (m.node->GetStatus().soft_state.role == Role::kLeader) leader = id;
      }
      if (leader == kNoNode) continue;
      const Term term = member(leader).node->GetStatus().hard_state.term;
      if (final_proposed_to_ != std::make_pair(leader, term)) {
        if (member(leader).node->Propose("final").ok()) final_proposed_to_ = {leader, term};
        continue;
      }
      const ConfState cs = member(leader).node->GetStatus().conf_state;
      bool everywhere = true;
      for (NodeId id : cs.voters) {
        const auto& a = member(id).applied;
        everywhere = everywhere && !a.empty() && a.back().second == "final";
      }
      if (everywhere) return "";
    }
    std::string state;
    for (auto& [id, m] : members_) {
      const Status st = m.node->GetStatus();
      absl::StrAppend(&state, "\n  ", id, ": role=", RoleName(st.soft_state.role),
                      " term=", st.hard_state.term, " lead=", st.soft_state.leader,
                      " commit=", st.hard_state.commit, " applied=", m.applied_index,
                      " last=", st.last_index, " first=", m.disk->FirstIndex());
    }
    return "no progress after the faults stopped:" + state;
  }

  void PrintStats() const {
    int confs = 0;
    for (const auto& [i, e] : committed_) confs += e.type == EntryType::kConfChange;
    fprintf(stderr, "seed %lu: committed=%zu applied=%zu confchanges=%d terms=%zu crashes=%d\n",
            static_cast<unsigned long>(seed_), committed_.size(), applied_.size(), confs,
            leaders_.size(), crashes_);
  }

 private:
  StagedMember& member(NodeId id) { return members_[id]; }

  void Start(StagedMember& m) {
    m.config.storage = m.disk.get();
    m.config.applied = m.applied_index;
    absl::StatusOr<std::unique_ptr<RawNode>> n = RawNode::Create(m.config);
    KVD_CHECK(n.ok(), "seed ", seed_, ": cannot start node ", m.id, ": ", n.status().ToString());
    m.node = std::move(*n);
    // Duty e: the conf changes between the snapshot and the applied index are applied again.
    const Index from = m.disk->FirstIndex();
    m.conf_history = {{from - 1, m.disk->GetInitialState().conf_state}};
    if (m.applied_index < from) return;
    absl::StatusOr<std::vector<Entry>> ents =
        m.disk->Entries(from, m.applied_index + 1, UINT64_MAX);
    KVD_CHECK(ents.ok(), "seed ", seed_, ": replaying node ", m.id, ": ", ents.status().ToString());
    for (const Entry& e : *ents) {
      if (e.type == EntryType::kConfChange) ApplyConfChange(m, e);
    }
  }

  void ApplyConfChange(StagedMember& m, const Entry& e) {
    absl::StatusOr<ConfChange> cc = DecodeConfChange(e.data);
    KVD_CHECK(cc.ok(), "bad conf change: ", cc.status().ToString());
    // Duty c: the membership in force is the one the node returns.
    m.conf_history.emplace_back(e.index, m.node->ApplyConfChange(*cc));
  }

  void TakeReady(StagedMember& m) {
    if (m.ready || !m.node->HasReady()) return;
    m.ready = m.node->GetReady();
    m.immediate_sent = m.ready->messages.empty();
    m.written = false;
    m.after_persist_sent = m.ready->messages_after_persist.empty();
    for (const Entry& e : m.ready->committed_entries) m.to_apply.push_back(e);
  }

  void SendImmediate(StagedMember& m) {
    for (Message& msg : m.ready->messages) m.outbox.push_back(std::move(msg));
    m.ready->messages.clear();
    m.immediate_sent = true;
  }

  void Write(StagedMember& m) {
    Ready& rd = *m.ready;
    if (!rd.snapshot.IsEmpty()) {
      // Duty b: everything handed out before the snapshot is applied before its image replaces
      // the state machine.
      ApplySome(m, m.to_apply.size());
      KVD_CHECK(m.disk->ApplySnapshot(rd.snapshot).ok(), "seed ", seed_, ": node ", m.id);
      const Index index = rd.snapshot.metadata.index;
      KVD_CHECK(index > m.applied_index, "seed ", seed_, ": snapshot at ", index,
                " not above applied ", m.applied_index);
      m.applied = DecodeImage(rd.snapshot.data);
      for (const auto& [i, data] : m.applied) {
        auto it = applied_.find(i);
        if (it != applied_.end() && it->second.data != data) {
          violation_ =
              absl::StrCat("node ", m.id, " installed a snapshot whose image differs at ", i);
        }
      }
      m.applied_index = index;
      m.conf_history = {{index, rd.snapshot.metadata.conf_state}};
    }
    if (!rd.entries.empty()) {
      absl::Status s = m.disk->Append(rd.entries);
      KVD_CHECK(s.ok(), "seed ", seed_, ": node ", m.id, ": ", s.ToString());
    }
    if (rd.hard_state) m.disk->SetHardState(*rd.hard_state);
    m.written = true;
  }

  void SendAfterPersist(StagedMember& m) {
    KVD_CHECK(m.written, "sending before the write");
    for (Message& msg : m.ready->messages_after_persist) m.outbox.push_back(std::move(msg));
    m.ready->messages_after_persist.clear();
    m.after_persist_sent = true;
  }

  void Advance(StagedMember& m) {
    // Sends still due go out later, from the outbox.
    if (!m.immediate_sent) SendImmediate(m);
    if (!m.after_persist_sent) SendAfterPersist(m);
    m.node->Advance();
    m.ready.reset();
  }

  void ApplySome(StagedMember& m, size_t n) {
    for (; n > 0 && !m.to_apply.empty(); --n) {
      const Entry e = std::move(m.to_apply.front());
      m.to_apply.pop_front();
      KVD_CHECK(e.index == m.applied_index + 1, "seed ", seed_, ": node ", m.id, " applying ",
                e.index, " after ", m.applied_index);
      if (e.type == EntryType::kConfChange) {
        ApplyConfChange(m, e);
      } else if (!e.data.empty()) {
        m.applied.emplace_back(e.index, e.data);
      }
      m.applied_index = e.index;
      auto [it, inserted] = applied_.emplace(e.index, e);
      if (!inserted && !(it->second == e)) {
        violation_ = absl::StrCat("node ", m.id, " applied a different entry at index ", e.index);
      }
      if (auto c = committed_.find(e.index); c != committed_.end() && !(c->second == e)) {
        violation_ = absl::StrCat("node ", m.id, " applied at index ", e.index,
                                  " an entry other than the one committed");
      }
    }
  }

  void CompactTo(StagedMember& m, Index i) {
    absl::StatusOr<Snapshot> snap =
        m.disk->CreateSnapshot(i, m.ConfStateAt(i), EncodeImage(m.applied, i));
    if (!snap.ok()) return;
    KVD_CHECK(m.disk->Compact(i).ok(), "seed ", seed_, ": compacting node ", m.id);
  }

  void Crash(StagedMember& m) {
    ++crashes_;
    // Lost: the Ready (written or not), everything unsent, everything handed out but not applied.
    m.ready.reset();
    m.outbox.clear();
    m.to_apply.clear();
    inboxes_[m.id].clear();
    m.node.reset();
    Start(m);
  }

  // Puts the member's outbox on the wire: each message is lost, duplicated or delivered.
  void Transmit(StagedMember& m) {
    for (Message& msg : m.outbox) {
      const uint64_t d = rng_() % 100;
      if (d < 8) continue;
      if (d < 12) inboxes_[msg.to].push_back(msg);
      inboxes_[msg.to].push_back(std::move(msg));
    }
    m.outbox.clear();
  }

  void Deliver(StagedMember& m) {
    std::vector<Message>& in = inboxes_[m.id];
    std::shuffle(in.begin(), in.end(), rng_);
    const size_t n = rng_() % (in.size() + 1);
    for (size_t k = 0; k < n; ++k) (void)m.node->Step(in[k]);
    in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
  }

  void DeliverAll(StagedMember& m) {
    std::vector<Message> in = std::move(inboxes_[m.id]);
    inboxes_[m.id].clear();
    for (Message& msg : in) (void)m.node->Step(std::move(msg));
  }

  std::string Check() {
    if (!violation_.empty()) return violation_;
    for (auto& [id, m] : members_) {
      const Status st = m.node->GetStatus();
      if (st.soft_state.role == Role::kLeader) {
        auto [it, inserted] = leaders_.emplace(st.hard_state.term, id);
        if (!inserted && it->second != id) {
          return absl::StrCat("two leaders in term ", st.hard_state.term, ": ", it->second, " and ",
                              id);
        }
      }
      const MemoryStorage& s = *m.disk;
      const Index commit = std::min(s.hard_state().commit, s.LastIndex());
      for (Index i = std::max(s.FirstIndex(), checked_[id] + 1); i <= commit; ++i) {
        const Entry e = s.Entries(i, i + 1, UINT64_MAX)->at(0);
        auto [it, inserted] = committed_.emplace(i, e);
        if (!inserted && !(it->second == e)) {
          return absl::StrCat("node ", id, " committed a different entry at index ", i);
        }
        if (auto a = applied_.find(i); inserted && a != applied_.end() && !(a->second == e)) {
          return absl::StrCat("the entry applied at index ", i, " is not the one committed");
        }
      }
      checked_[id] = std::max(checked_[id], commit);
    }
    return "";
  }

  const uint64_t seed_;
  std::mt19937_64 rng_;
  std::map<NodeId, StagedMember> members_;
  std::map<NodeId, std::vector<Message>> inboxes_;
  int next_value_ = 0;
  int crashes_ = 0;
  std::pair<NodeId, Term> final_proposed_to_{kNoNode, 0};
  std::map<Term, NodeId> leaders_;
  std::map<Index, Entry> committed_;
  std::map<Index, Entry> applied_;
  std::map<NodeId, Index> checked_;
  std::string violation_;
};

void RunSeed(uint64_t seed, int steps) {
  // Printed first: an invariant the core checks itself aborts the process without gtest's help.
  fprintf(stderr, "staged-ready seed %lu\n", static_cast<unsigned long>(seed));
  StagedRun run(seed);
  for (int k = 0; k < steps; ++k) {
    const std::string violation = run.Step();
    ASSERT_TRUE(violation.empty()) << "seed " << seed << ", step " << k << ": " << violation;
  }
  const std::string violation = run.Settle();
  if (std::getenv("KVD_RAFT_STATS")) run.PrintStats();
  ASSERT_TRUE(violation.empty()) << "seed " << seed << " after the faults: " << violation;
}

TEST(StagedReadyHandling, SafetyHoldsWhenOwnersPersistSendApplyAndAdvanceLate) {
  if (const char* s = std::getenv("KVD_RAFT_STAGED_SEED")) {
    RunSeed(std::strtoull(s, nullptr, 10), kSteps);
    return;
  }
  const char* n = std::getenv("KVD_RAFT_STAGED_SEEDS");
  const uint64_t seeds = n == nullptr ? 25 : std::strtoull(n, nullptr, 10);
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    RunSeed(seed, kSteps);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace kvd::raft
