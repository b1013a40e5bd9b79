// SafetyMonitor: watches every node of a simulated cluster and reports the first broken Raft
// safety property, together with a few rules of THE READY CONTRACT whose breach would make the
// simulation itself meaningless.
//
// The properties (Raft paper, Figure 3), as observed from outside the core:
//  - election safety: at most one node is ever leader in a term (over the whole run, crashes
//    included).
//  - leader append-only: while a node leads a term, each of its Readys only appends after its
//    last entry; it never installs a snapshot or rewrites an entry.
//  - log matching: two logs with an entry of the same index and term hold the same entries up to
//    it. Checked incrementally — every entry that enters any log must agree with every other
//    entry ever seen at (index, term), in data and in the term of its predecessor — and in full
//    over every pair of disks at the end.
//  - leader completeness: an entry reported committed is in the log of every leader of a later
//    term. The term in which it was committed is bounded by the term of the first node that
//    reported it, and every leader of a higher term is checked, at each of its Readys.
//  - state machine safety: no two nodes apply different entries at one index, and equal
//    prefixes give equal state machine images (also after a snapshot is installed).
// Two more, closer to the rules those rest on:
//  - commitment (§5.3, §5.4.2): when a leader's commit index advances — in its Ready's hard state
//    or in the commit index its appends and heartbeats announce — each newly committed entry is
//    on the disk of a majority of its voters (under its membership before or after its latest
//    conf change), and so is an entry of the leader's own term at or after the new commit index:
//    an entry is committed once the leader that created it has it on a majority, and entries of
//    earlier terms only through such an entry. Breaking either leaves "committed" entries that a
//    later election (Figure 8) or a few crashes can erase.
//  - read index safety: a ReadState's index is at least every commit index any node had reported
//    when the read was requested, so the read sees every write acknowledged before it began.
// Plus the rules of THE READY CONTRACT the simulation relies on ("ready contract").
//
// The caller reports what happens (a node took a Ready, applied an entry, changed role,
// crashed); the monitor keeps what it needs and reads node state through the nodes map.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/rawnode.h"
#include "raft/types.h"
#include "tests/sim/sim_node.h"

namespace kvd::sim {

struct Violation {
  std::string property;  // "election safety", "log matching", ...
  std::string detail;
};

class SafetyMonitor {
 public:
  using NodeMap = std::map<raft::NodeId, std::unique_ptr<SimNode>>;
  explicit SafetyMonitor(const NodeMap* nodes) : nodes_(nodes) {}

  // After any event that may have changed node's role: records leadership (election safety).
  void OnStatus(const SimNode& node, const raft::Status& status);

  // Right after node.TakeReady(). prev_last_index: the node's observed last index before it;
  // status: the node's status now. Checks the contract, records the batch's entries, the
  // committed entries and the leader's commit.
  void OnReady(const SimNode& node, const raft::Ready& rd, raft::Index prev_last_index,
               const raft::Status& status);

  // node sends m (from a Ready's messages or messages_after_persist): a leader's append or
  // heartbeat announces its commit index (commitment).
  void OnSend(const SimNode& node, const raft::Message& m);

  // A client read asked node for a read index with this context (read index safety)...
  void OnReadIndexRequested(const std::string& context);
  // ...and the answer came back in one of node's Readys.
  void OnReadState(const SimNode& node, const raft::ReadState& rs);

  // node applied entry e (normal or conf change); fingerprint: its state machine's after it.
  void OnApply(const SimNode& node, const raft::Entry& e, uint64_t fingerprint);
  // node's state machine was replaced by a snapshot's image at index/term.
  void OnSnapshotInstalled(const SimNode& node, raft::Index index, raft::Term term,
                           uint64_t fingerprint);
  // node's membership changed (an applied conf change or an installed snapshot).
  void OnConfChanged(const SimNode& node, const raft::ConfState& before);
  void OnCrash(const SimNode& node);

  // Full pairwise log matching over every node's disk.
  void CheckAllDisks();

  // Records a violation found elsewhere (a contract breach the simulation noticed).
  void Report(std::string property, std::string detail);

  const std::optional<Violation>& violation() const { return violation_; }

  // Highest term with a leader so far and that leader, for traces and the liveness phase.
  uint64_t leaders_elected() const { return leader_of_term_.size(); }

 private:
  struct EntryId {
    raft::Term term = 0;
    uint64_t data_hash = 0;
    raft::EntryType type = raft::EntryType::kNormal;
  };
  struct LogRecord {
    uint64_t data_hash = 0;
    raft::EntryType type = raft::EntryType::kNormal;
    std::optional<raft::Term> prev_term;  // unknown when the predecessor was compacted
    raft::NodeId seen_on = 0;
  };
  struct CommittedRecord {
    raft::Index index = 0;
    raft::Term term = 0;
    raft::Term bound = 0;  // the entry was committed in a term <= bound
  };
  struct Leadership {
    raft::Term term = 0;           // term of the node's latest Ready as leader
    size_t committed_cursor = 0;   // committed_ records checked against this leadership
    std::vector<size_t> deferred;  // records beyond its log at the last check
    raft::Index commit = 0;        // its commit index as of its latest Ready
  };

  void CheckReadyContract(const SimNode& node, const raft::Ready& rd);
  void CheckLogMatching(const SimNode& node, const raft::Ready& rd);
  void CheckLeaderAppendOnly(const SimNode& node, const raft::Ready& rd,
                             raft::Index prev_last_index, raft::Term term, bool continuing);
  // Entries (from, to] of node's log, committed by node as leader of term, must be durable on a
  // majority of its voters.
  void CheckCommitDurability(const SimNode& node, raft::Term term, raft::Index from, raft::Index to,
                             const char* how);
  void CheckLeaderCompleteness(const SimNode& node, Leadership& l);
  // Whether record r is in node's log; nullopt when it cannot tell yet (beyond its log).
  std::optional<bool> LogHas(const SimNode& node, const CommittedRecord& r) const;
  void RecordCommitted(const SimNode& node, const raft::Entry& e, raft::Term observer_term);
  bool DurableOn(raft::NodeId voter, raft::Index i, raft::Term t) const;

  const NodeMap* nodes_;
  std::optional<Violation> violation_;

  std::map<raft::Term, raft::NodeId> leader_of_term_;
  std::map<std::pair<raft::Index, raft::Term>, LogRecord> log_records_;
  std::map<raft::Index, size_t> committed_at_;  // index -> position in committed_
  std::vector<CommittedRecord> committed_;
  std::map<raft::Index, EntryId> applied_entries_;
  std::map<raft::Index, std::pair<uint64_t, raft::NodeId>> fingerprint_at_;
  std::map<raft::NodeId, Leadership> leadership_;
  std::map<raft::NodeId, raft::ConfState> previous_conf_;
  // Per node: the term and commit index of its latest append or heartbeat.
  std::map<raft::NodeId, std::pair<raft::Term, raft::Index>> commit_announced_;
  // The highest commit index any node has reported, and what it was when each read asked.
  raft::Index max_known_commit_ = 0;
  std::map<std::string, raft::Index> read_floor_;
};

uint64_t HashData(const std::string& data);

}  // namespace kvd::sim
