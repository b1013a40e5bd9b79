// LogState: the shape of the log a WAL holds (snapshot, hard state, which indexes are present and
// their terms), and the one set of rules that says which batch may come next.
//
// The writer checks every batch against these rules before it writes it (a batch that breaks
// one is refused with InvalidArgument and nothing is written), and recovery checks every batch
// it reads against the same rules (a batch that breaks one is corruption). Both then Apply it,
// so the state recovery rebuilds is the state the writer had.
//
// While reading a WAL whose oldest segments were removed, the entries between the snapshot and
// the first segment's start are not there: first_index() may then exceed snapshot().index + 1
// until a later snapshot record covers the gap. connected() says whether it has.
//
// Not thread-safe.
#pragma once

#include <deque>
#include <optional>
#include <span>

#include "absl/status/status.h"
#include "raft/types.h"
#include "storage/wal/wal_format.h"

namespace kvd::wal {

// One batch's effect on the log: its records in the order they apply.
struct BatchContent {
  std::optional<raft::Index> segment_start;
  std::optional<SnapshotRecord> snapshot;
  std::span<const raft::Entry> entries;
  std::optional<raft::HardState> hard_state;

  bool empty() const { return !segment_start && !snapshot && entries.empty() && !hard_state; }
};

class LogState {
 public:
  // OK if `batch` may be applied next; otherwise InvalidArgument naming the rule it breaks.
  absl::Status Check(const BatchContent& batch) const;
  // Applies a batch that Check accepted.
  void Apply(const BatchContent& batch);

  // Whether a segment start has been applied (nothing else may come first).
  bool started() const { return started_; }
  // The first index present, or the one the next entry gets when none is.
  raft::Index first_index() const { return first_; }
  raft::Index last_index() const { return first_ + terms_.size() - 1; }
  const raft::SnapshotMetadata& snapshot() const { return snapshot_; }
  const raft::HardState& hard_state() const { return hard_state_; }
  // The term of entry i if it is present or is the snapshot's last entry.
  std::optional<raft::Term> TermAt(raft::Index i) const;
  // Whether every entry after the snapshot is present (first_index == snapshot index + 1).
  bool connected() const { return first_ == snapshot_.index + 1; }

 private:
  bool started_ = false;
  raft::SnapshotMetadata snapshot_;
  raft::HardState hard_state_;
  raft::Index first_ = 1;
  std::deque<raft::Term> terms_;  // terms of entries first_, first_ + 1, ...
};

}  // namespace kvd::wal
