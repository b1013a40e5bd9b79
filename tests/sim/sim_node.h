// SimNode: one simulated cluster member. A RawNode reads its log from a MemoryStorage that plays
// the member's disk; the member applies committed entries to a KvStateMachine.
//
// Durability follows THE READY CONTRACT (raft/rawnode.h) exactly:
//  - TakeReady() calls GetReady(); the Ready stays "in flight" until PersistReady() writes its
//    step 2 (snapshot, entries, hard state, in that order) to the disk and FinishReady() calls
//    Advance(). The simulation sends rd.messages at TakeReady and rd.messages_after_persist only
//    after PersistReady, and lets time pass in between.
//  - Crash() can strike while a Ready is in flight: a prefix of its step 2 (cut points: nothing,
//    the snapshot, the snapshot and the first j entries, everything) reaches the disk, the rest
//    is lost. A power loss also loses what was written without a sync (Readys with
//    must_sync == false, which may only move the commit index); a process crash does not.
//  - The state machine persists only through snapshots: Boot() restores it from the disk's latest
//    snapshot and resumes applying after that snapshot's index (Config::applied), so the core
//    hands out again every committed entry after it. Conf changes after the snapshot are re-applied
//    the same way. Creating a snapshot counts as a sync of everything written before it.
//
// Not thread-safe; the simulation drives every node from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "raft/config.h"
#include "raft/memory_storage.h"
#include "raft/rawnode.h"
#include "raft/types.h"
#include "tests/sim/kv_state_machine.h"

namespace kvd::sim {

// What the node's log holds at an index, as far as anyone can see it.
enum class LogSlot : uint8_t {
  kPresent,    // an entry (or the snapshot's last entry) with a known term
  kCompacted,  // covered by a snapshot
  kMissing,    // beyond the log
};

class SimNode {
 public:
  SimNode(raft::NodeId id, std::unique_ptr<raft::MemoryStorage> disk);

  raft::NodeId id() const { return id_; }
  bool up() const { return raw_ != nullptr; }
  // Bumped by every Boot, so events scheduled for an earlier life can be recognised.
  uint64_t incarnation() const { return incarnation_; }

  // Starts (or restarts) from the disk alone. `config` supplies everything but storage and
  // applied, which come from the disk. InvalidArgument / DataLoss when the disk's snapshot or
  // the core refuses.
  absl::Status Boot(raft::Config config);

  // Drops every volatile thing: the RawNode, the state machine, the in-flight Ready. See the
  // header comment for `cut` and `power_loss`.
  void Crash(size_t cut, bool power_loss);
  // Cut points of the in-flight Ready: entries.size() + 3 (nothing, snapshot, each entry, hard
  // state); 0 when no Ready is in flight.
  size_t InflightCutPoints() const;

  raft::RawNode& raw() { return *raw_; }
  const raft::RawNode& raw() const { return *raw_; }
  const raft::MemoryStorage& disk() const { return *disk_; }

  bool busy() const { return inflight_.has_value(); }
  // GetReady(); requires up() and !busy().
  const raft::Ready& TakeReady();
  // The last committed index handed out for applying (by a Ready's committed entries or
  // snapshot), before and after the latest TakeReady.
  raft::Index handed_out() const { return handed_out_; }
  raft::Index handed_out_before_ready() const { return handed_out_before_ready_; }
  const raft::Ready& inflight() const { return *inflight_; }
  // Step 2 of the in-flight Ready. FailedPrecondition when the disk refuses it (the core handed
  // out something inconsistent).
  absl::Status PersistReady();
  // Step 5: Advance() and forget the in-flight Ready.
  void FinishReady();
  // For tests of the checks that read nodes: put a Ready in flight without a RawNode (with the
  // bookkeeping TakeReady does), and drop it again.
  void SetInflightForTest(raft::Ready rd);
  void DropInflightForTest() { inflight_.reset(); }

  // The state machine and what it has applied.
  KvStateMachine& sm() { return sm_; }
  const KvStateMachine& sm() const { return sm_; }
  raft::Index applied() const { return applied_; }
  void set_applied(raft::Index i) { applied_ = i; }
  const raft::ConfState& conf() const { return conf_; }
  void set_conf(raft::ConfState cs) { conf_ = std::move(cs); }
  // Replaces the state machine with a snapshot's image (a Ready's snapshot, once installed).
  absl::Status RestoreStateMachine(const raft::Snapshot& s);

  // Makes the disk's snapshot the state machine's image at its applied index and discards the
  // log up to keep_entries entries before it. Requires !busy(). Returns false (and does nothing)
  // when applied is not past the current snapshot.
  absl::Status SnapshotAndCompact(raft::Index keep_entries, bool* made);

  // The log as others could observe it: the disk overlaid with the in-flight Ready.
  LogSlot TermAt(raft::Index i, raft::Term* term) const;
  raft::Index ObservedLastIndex() const;
  raft::Index ObservedSnapshotIndex() const;
  // The index of the disk's snapshot (0 when none).
  raft::Index SnapshotIndex() const;

 private:
  void NoteHandedOut();

  raft::NodeId id_;
  std::unique_ptr<raft::MemoryStorage> disk_;
  uint64_t incarnation_ = 0;
  // The hard state as of the last synced write; what a power loss leaves on the disk.
  raft::HardState synced_hard_state_;

  std::unique_ptr<raft::RawNode> raw_;
  std::optional<raft::Ready> inflight_;
  KvStateMachine sm_;
  raft::Index applied_ = 0;
  raft::Index handed_out_ = 0;
  raft::Index handed_out_before_ready_ = 0;
  raft::ConfState conf_;
};

}  // namespace kvd::sim
