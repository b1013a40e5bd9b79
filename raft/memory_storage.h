// MemoryStorage: a LogStorage kept in memory, for tests, simulations and benchmarks.
//
// It plays the part of the owner's durable storage: the owner of a RawNode writes each Ready into
// it (ApplySnapshot, Append, SetHardState, in that order) before sending the Ready's
// messages_after_persist and calling Advance(), and compacts it as the state machine applies.
// "Durable" here means "survives the RawNode": a simulated crash drops the RawNode (and with it
// everything unpersisted) and builds a new one from the same MemoryStorage.
//
// Layout: the log is a run of entries preceded by the last compacted entry's index and term (the
// latest snapshot's, or 0/0 for a log that never had one). FirstIndex() is that index + 1.
//
// Starting a cluster, either way:
//  - MemoryStorage(bootstrap_conf): an empty log whose membership is bootstrap_conf. Every member
//    of the new cluster must be given the same bootstrap membership.
//  - MemoryStorage() then ApplySnapshot(s) (and SetHardState) with s.metadata.conf_state the
//    membership: the log starts after s. A member added later to a running cluster then starts
//    with an empty MemoryStorage(); since the leader's log does not reach back to index 1, the
//    leader sends it a snapshot, which carries the membership. (A member added to a cluster
//    whose log still starts at 1 would replay the log without knowing the bootstrap membership.)
//
// Thread-safety: none. The RawNode reading it and the owner writing it must run on one thread, or
// the owner synchronizes them. Writers must not run while the RawNode is inside a call.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/log_storage.h"
#include "raft/types.h"

namespace kvd::raft {

class MemoryStorage final : public LogStorage {
 public:
  // An empty log, reporting bootstrap as the membership until a snapshot is installed.
  explicit MemoryStorage(ConfState bootstrap = {});

  // LogStorage.
  InitialState GetInitialState() const override;
  absl::StatusOr<std::vector<Entry>> Entries(Index lo, Index hi, uint64_t max_bytes) const override;
  absl::StatusOr<Term> GetTerm(Index i) const override;
  Index FirstIndex() const override;
  Index LastIndex() const override;
  absl::StatusOr<Snapshot> GetSnapshot() const override;

  // Records the hard state GetInitialState reports.
  void SetHardState(const HardState& hs);
  const HardState& hard_state() const { return hard_state_; }

  // Appends entries, which must have consecutive indexes. An entry whose index is already in the
  // log replaces it and every entry after it (suffix truncation). Entries at or below the
  // compacted prefix are skipped. FailedPrecondition, with nothing changed, if the entries are
  // not consecutive or would leave a gap after LastIndex().
  absl::Status Append(const std::vector<Entry>& entries);

  // Replaces the whole log with snapshot: the log becomes empty after snapshot.metadata.index,
  // and GetSnapshot / GetInitialState report it. FailedPrecondition, with nothing changed, if
  // it is empty or not newer than the current snapshot.
  absl::Status ApplySnapshot(Snapshot snapshot);

  // Makes the snapshot GetSnapshot hands out: the state machine image `data` taken at applied
  // index i with membership conf. The log is left as it is (see Compact). ErrUnavailable if
  // i > LastIndex(); FailedPrecondition if i is not newer than the current snapshot.
  absl::StatusOr<Snapshot> CreateSnapshot(Index i, const ConfState& conf, std::string data);

  // Discards the entries up to and including compact_index, so FirstIndex() becomes
  // compact_index + 1. A follower lagging behind the new first index must be caught up from the
  // snapshot, so compact_index may not pass the snapshot's index: FailedPrecondition then.
  // ErrCompacted if compact_index is already compacted; ErrUnavailable if beyond LastIndex().
  absl::Status Compact(Index compact_index);

 private:
  Index offset() const { return prefix_index_ + 1; }  // index of entries_[0]

  ConfState bootstrap_;
  HardState hard_state_;
  Snapshot snapshot_;
  // The last compacted entry: the snapshot's, or 0/0.
  Index prefix_index_ = 0;
  Term prefix_term_ = 0;
  std::vector<Entry> entries_;  // entries_[k].index == offset() + k
};

}  // namespace kvd::raft
