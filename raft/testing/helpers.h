// Small helpers for the Raft core's unit tests.
//
// Test support only; pure.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/rawnode.h"
#include "raft/testing/cluster.h"
#include "raft/testing/test_node.h"
#include "raft/types.h"

namespace kvd::raft::testing {

// Handles every Ready of n (persisting, applying, advancing) and returns all the messages they
// carried, in order.
inline std::vector<Message> Drain(TestNode& n) {
  std::vector<Message> out;
  while (n.node().HasReady()) {
    Ready rd = n.HandleReady();
    out.insert(out.end(), rd.messages.begin(), rd.messages.end());
    out.insert(out.end(), rd.messages_after_persist.begin(), rd.messages_after_persist.end());
  }
  return out;
}

inline std::vector<Message> OfType(const std::vector<Message>& msgs, MessageType t) {
  std::vector<Message> out;
  std::copy_if(msgs.begin(), msgs.end(), std::back_inserter(out),
               [t](const Message& m) { return m.type == t; });
  return out;
}

// A storage holding entries with the given terms at indexes 1, 2, ..., and hard state hs.
inline std::unique_ptr<MemoryStorage> StorageWithLog(const ConfState& cs,
                                                     const std::vector<Term>& terms,
                                                     HardState hs = {}) {
  auto s = std::make_unique<MemoryStorage>(cs);
  std::vector<Entry> ents;
  for (size_t k = 0; k < terms.size(); ++k) {
    ents.push_back(Entry{.term = terms[k], .index = k + 1, .type = EntryType::kNormal, .data = ""});
  }
  if (!ents.empty()) (void)s->Append(ents);
  if (hs.term == 0 && !terms.empty()) hs.term = terms.back();
  s->SetHardState(hs);
  return s;
}

// A lone node (voters given, all others absent) whose storage holds a log with these terms.
inline std::unique_ptr<TestNode> NodeWithLog(NodeId id, std::vector<NodeId> voters,
                                             const std::vector<Term>& terms, HardState hs = {},
                                             const std::function<void(Config&)>& tweak = nullptr) {
  Config c = TestConfig(id);
  if (tweak) tweak(c);
  return std::make_unique<TestNode>(
      c, StorageWithLog(ConfState{.voters = std::move(voters), .learners = {}}, terms, hs));
}

// The terms of the entries in n's durable log, from its first index.
inline std::vector<Term> LogTerms(TestNode& n) {
  std::vector<Term> out;
  MemoryStorage& s = n.storage();
  for (Index i = s.FirstIndex(); i <= s.LastIndex(); ++i) out.push_back(*s.GetTerm(i));
  return out;
}

// A storage starting with a snapshot at `index` (term 1) that carries the membership cs, with
// hard state term 1, commit index. A member added later to a cluster started this way gets the
// membership from the snapshot the leader sends it (see raft/memory_storage.h).
inline std::unique_ptr<MemoryStorage> SnapshotStorage(const ConfState& cs, Index index = 1) {
  auto s = std::make_unique<MemoryStorage>();
  (void)s->ApplySnapshot(Snapshot{.metadata = {.conf_state = cs, .index = index, .term = 1}});
  s->SetHardState(HardState{.term = 1, .vote = kNoNode, .commit = index});
  return s;
}

// Adds members {voters, learners} started from SnapshotStorage.
inline void AddSnapshotMembers(Cluster& c, const std::vector<NodeId>& voters,
                               const std::vector<NodeId>& learners = {},
                               const std::function<void(Config&)>& tweak = nullptr) {
  const ConfState cs{.voters = voters, .learners = learners};
  std::vector<NodeId> all = voters;
  all.insert(all.end(), learners.begin(), learners.end());
  for (NodeId id : all) {
    Config cfg = TestConfig(id);
    if (tweak) tweak(cfg);
    c.Add(cfg, SnapshotStorage(cs));
  }
}

// Adds a member about to join: an empty log and no membership.
inline TestNode& AddJoiner(Cluster& c, NodeId id,
                           const std::function<void(Config&)>& tweak = nullptr) {
  Config cfg = TestConfig(id);
  if (tweak) tweak(cfg);
  return c.Add(cfg, std::make_unique<MemoryStorage>());
}

inline Role RoleOf(const RawNode& n) { return n.GetStatus().soft_state.role; }
inline Term TermOf(const RawNode& n) { return n.GetStatus().hard_state.term; }
inline Index CommitOf(const RawNode& n) { return n.GetStatus().hard_state.commit; }

inline const PeerProgress* ProgressOf(const Status& st, NodeId id) {
  for (const auto& [peer, pr] : st.progress) {
    if (peer == id) return &pr;
  }
  return nullptr;
}

}  // namespace kvd::raft::testing
