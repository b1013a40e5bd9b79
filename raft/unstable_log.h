// UnstableLog: the tail of a node's log that the owner has not yet made durable: at most one
// snapshot followed by entries. The part below offset() is in the LogStorage.
//
// Internal to the Raft core; one thread.
#pragma once

#include <optional>
#include <vector>

#include "raft/types.h"

namespace kvd::raft {

class UnstableLog {
 public:
  // offset: the index the first unstable entry will have (the storage's LastIndex() + 1).
  explicit UnstableLog(Index offset) : offset_(offset) {}

  // Index of the first entry the unstable part knows of: the snapshot's index + 1, if a snapshot
  // is pending.
  std::optional<Index> MaybeFirstIndex() const;
  // Index of the last entry, or of the pending snapshot when there are no entries.
  std::optional<Index> MaybeLastIndex() const;
  // Term of entry i if the unstable part knows it (an entry here, or the snapshot's last entry).
  std::optional<Term> MaybeTerm(Index i) const;

  // The owner made entries up to i durable; i's term must still be t (the entries may have been
  // replaced since they were handed out, and then nothing is stable yet).
  void StableTo(Index i, Term t);
  // The owner made the pending snapshot at index i durable.
  void StableSnapTo(Index i);

  // Replaces everything with snapshot s.
  void Restore(Snapshot s);

  // Appends ents, which must be non-empty and consecutive; an entry whose index is already here
  // or in the storage replaces it and everything after it.
  void TruncateAndAppend(std::vector<Entry> ents);

  // Entries with index in [lo, hi); offset() <= lo <= hi <= last + 1.
  std::vector<Entry> Slice(Index lo, Index hi) const;

  Index offset() const { return offset_; }
  const std::vector<Entry>& entries() const { return entries_; }
  const std::optional<Snapshot>& snapshot() const { return snapshot_; }

 private:
  std::optional<Snapshot> snapshot_;
  std::vector<Entry> entries_;  // entries_[k].index == offset_ + k
  Index offset_;
};

}  // namespace kvd::raft
