// RaftLoop: the thread that drives this member's Raft node.
//
// It owns the RawNode, the in-memory log view (MemoryStorage) and the WAL, and is the only thread
// that touches them. Everything else talks to it through its inbox (Propose, Step, ReadIndex,
// ...), which never blocks the caller. Each turn of the loop takes everything waiting in the inbox
// at once, steps it into the node, ticks the node when a tick interval has passed, and handles the
// node's Ready by the contract of raft/rawnode.h:
//
//   1. send Ready::messages            (a leader replicates while it writes its own log)
//   2. WAL Save: snapshot, entries, hard state, one fdatasync when must_sync; then the same into
//      the MemoryStorage the node reads
//   3. send Ready::messages_after_persist
//   4. hand Ready::committed_entries to the apply path (asynchronous), calling ApplyConfChange for
//      conf changes first; read states to the read path
//   5. Advance
//
// Everything that arrived while step 2 waited on the disk is batched into the next Ready, so under
// load one fdatasync covers many proposals.
//
// An installed snapshot (a follower far behind) is restored into the state machine through the
// apply path before step 2 records it in the WAL; the loop waits for that.
//
// A failed WAL write or sync is fatal: the process exits (see storage/wal/wal.h, FAILURE).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "raft/memory_storage.h"
#include "raft/rawnode.h"
#include "storage/wal/wal.h"

namespace kvd::server {

// A batch of committed entries for the apply path, with the membership in force after each conf
// change entry among them (conf_states[k] belongs to the k-th kConfChange entry).
struct CommittedBatch {
  std::vector<raft::Entry> entries;
  std::vector<raft::ConfState> conf_states;
};

class RaftLoop {
 public:
  struct Hooks {
    // Sends messages to their destinations; must not block.
    std::function<void(std::vector<raft::Message>)> send;
    // Hands committed entries to the apply path; must not block.
    std::function<void(CommittedBatch)> apply;
    // Restores the state machine from the received image of snapshot and returns once done (or
    // failed); called on the loop's thread, which waits.
    std::function<absl::Status(const raft::Snapshot&)> install_snapshot;
    // A ReadIndex request was answered.
    std::function<void(const raft::ReadState&)> read_state;
    // The leader or this member's role changed (leader is kNoNode while none is known).
    std::function<void(const raft::SoftState&, raft::Term term)> leadership;
    // A conf change was applied to the node; the transport learns of added / removed peers.
    std::function<void(const raft::ConfChange&, const raft::ConfState&)> conf_changed;
    // A proposal could not be passed on (no leader, ...): fail the request that made it.
    std::function<void(uint64_t request_id, absl::Status why)> proposal_dropped;
  };

  struct Options {
    raft::Config raft;  // raft.storage is set by RaftLoop to its MemoryStorage
    absl::Duration tick_interval = absl::Milliseconds(100);
    // Entries kept in the log behind a snapshot, so a follower slightly behind catches up from
    // the log rather than needing the snapshot.
    uint64_t catch_up_entries = 5000;
    std::string member_name;  // for log lines
  };

  // storage holds what the WAL recovered; wal is open. Nothing runs until Start().
  static absl::StatusOr<std::unique_ptr<RaftLoop>> Create(
      Options options, std::unique_ptr<raft::MemoryStorage> storage, std::unique_ptr<wal::Wal> wal,
      Hooks hooks);
  ~RaftLoop();  // Stop()s

  void Start();
  // Stops the loop after the turn in progress and closes the WAL (syncing it).
  void Stop();

  // Inbox; any thread, never blocks.
  void Propose(uint64_t request_id, std::string data);
  void ProposeConfChange(uint64_t request_id, raft::ConfChange cc);
  void Step(raft::Message m);
  void ReadIndex(std::string context);
  void TransferLeader(raft::NodeId transferee);
  void ReportUnreachable(raft::NodeId id);
  void ReportSnapshot(raft::NodeId id, bool failed);
  // The state machine is durable up to index (with membership conf): record a snapshot there
  // and compact the log behind it.
  void CompactLog(raft::Index index, raft::ConfState conf);
  // Campaigns at once (tests and leader hand-off).
  void Campaign();

  // The node's status as of the last turn.
  raft::Status status() const;

 private:
  struct Inbox {
    std::vector<std::pair<uint64_t, std::string>> proposals;
    std::vector<std::pair<uint64_t, raft::ConfChange>> conf_changes;
    std::vector<raft::Message> messages;
    std::vector<std::string> read_requests;
    std::vector<raft::NodeId> transfers;
    std::vector<raft::NodeId> unreachable;
    std::vector<std::pair<raft::NodeId, bool>> snapshot_reports;
    std::vector<std::pair<raft::Index, raft::ConfState>> compactions;
    bool campaign = false;
    bool empty() const {
      return proposals.empty() && conf_changes.empty() && messages.empty() &&
             read_requests.empty() && transfers.empty() && unreachable.empty() &&
             snapshot_reports.empty() && compactions.empty() && !campaign;
    }
  };

  RaftLoop(Options options, std::unique_ptr<raft::MemoryStorage> storage,
           std::unique_ptr<wal::Wal> wal, Hooks hooks);
  void Run();
  void Process(Inbox inbox);
  void HandleReady();
  void Compact(raft::Index index, const raft::ConfState& conf);
  [[noreturn]] void Fatal(const std::string& what, const absl::Status& why);

  const Options options_;
  const Hooks hooks_;
  std::unique_ptr<raft::MemoryStorage> storage_;
  std::unique_ptr<wal::Wal> wal_;
  std::unique_ptr<raft::RawNode> node_;
  raft::SoftState soft_state_;
  raft::Term term_ = 0;

  mutable absl::Mutex mu_;
  Inbox inbox_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  raft::Status status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace kvd::server
