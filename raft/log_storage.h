// LogStorage: the read-only view of the persisted log that the Raft core reads from.
//
// The application owns the storage. It appends entries and installs snapshots there only after
// they are durable (see the Ready contract in raft/rawnode.h); the core never writes to it.
// Thread-safety: none required by the core. The core calls it only from the thread that drives
// the RawNode; an implementation shared with other threads synchronizes itself.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/types.h"

namespace kvd::raft {

// What a (re)starting node resumes from.
struct InitialState {
  HardState hard_state;
  // The membership in force at the latest snapshot or, for a new cluster, the bootstrap
  // membership. Conf change entries in the log after it are re-applied by the application.
  ConfState conf_state;
};

class LogStorage {
 public:
  virtual ~LogStorage() = default;

  virtual InitialState GetInitialState() const = 0;

  // Entries with index in [lo, hi), stopping before the total size of their data exceeds
  // max_bytes, but always at least one entry when lo < hi.
  // ErrCompacted if lo < FirstIndex(); ErrUnavailable if hi > LastIndex() + 1.
  virtual absl::StatusOr<std::vector<Entry>> Entries(Index lo, Index hi,
                                                     uint64_t max_bytes) const = 0;

  // The term of entry i, for i in [FirstIndex() - 1, LastIndex()]: the entry just before the
  // first one is the snapshot's last entry, whose term is kept. ErrCompacted below that range,
  // ErrUnavailable above it.
  virtual absl::StatusOr<Term> GetTerm(Index i) const = 0;

  // Index of the first entry still in the log (the snapshot's index + 1). 1 for a new log.
  virtual Index FirstIndex() const = 0;
  // Index of the last entry; FirstIndex() - 1 when the log is empty.
  virtual Index LastIndex() const = 0;

  // The latest snapshot, or ErrSnapshotTemporarilyUnavailable while one is being made.
  virtual absl::StatusOr<Snapshot> GetSnapshot() const = 0;
};

}  // namespace kvd::raft
