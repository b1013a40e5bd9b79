// RaftLog: a node's view of its log, joining the durable part (the LogStorage) and the part the
// owner has not made durable yet (UnstableLog), with the commit and apply positions.
//
// Positions, always ordered: applied <= applying <= committed <= LastIndex().
//  - committed: the highest index known to be committed (on a quorum's durable logs).
//  - applying:  the highest index handed to the owner in Ready::committed_entries.
//  - applied:   the highest index the owner acknowledged (Advance) after handing it out.
// Entries handed out for applying are always durable on this node: never above
// PersistedLastIndex().
//
// Internal to the Raft core; one thread.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/log_storage.h"
#include "raft/types.h"
#include "raft/unstable_log.h"

namespace kvd::raft {

class RaftLog {
 public:
  // Starts from the storage's log; committed and applied start at the storage's first index - 1
  // (the snapshot's index), the caller moves them to the hard state's commit and Config::applied.
  RaftLog(const LogStorage* storage, uint64_t max_committed_bytes);

  Index FirstIndex() const;
  Index LastIndex() const;
  // Term of entry i for i in [FirstIndex() - 1, LastIndex()]; ErrCompacted below, ErrUnavailable
  // above.
  absl::StatusOr<Term> TermAt(Index i) const;
  // TermAt(i), or 0 when it is unknown (compacted or beyond the log).
  Term TermOrZero(Index i) const;
  Term LastTerm() const;
  bool MatchTerm(Index i, Term t) const;

  // §5.4.1 election restriction: whether a log ending at (last_index, last_term) is at least as
  // up to date as this one: a later last term, or the same last term and at least as long.
  bool IsUpToDate(Index last_index, Term last_term) const;

  // A follower's append (§5.3): if the entry at prev_index has term prev_term, appends ents
  // (dropping the ones already present, replacing from the first conflicting one), moves the
  // commit index to min(leader_commit, index of the last new entry) and returns that last new
  // index. nullopt, with nothing changed, when the log does not match at prev_index.
  // A conflict at or below the commit index is an invariant violation (crash).
  std::optional<Index> MaybeAppend(Index prev_index, Term prev_term, Index leader_commit,
                                   std::vector<Entry> ents);
  // Appends ents (a leader's own new entries, or after MaybeAppend's checks); returns the new
  // last index. The first entry must not be at or below the commit index.
  Index Append(std::vector<Entry> ents);

  // The index of the first entry of ents whose term differs from this log's entry at that index,
  // or which is beyond the log; 0 when every entry is already here.
  Index FindConflict(const std::vector<Entry>& ents) const;
  // Fast backtracking: the largest index <= index whose term is <= term, with its term; if no term
  // is known for an index on the way (compacted), that index and term 0. index <= LastIndex().
  std::pair<Index, Term> FindConflictByTerm(Index index, Term term) const;

  // Entries in [lo, hi), limited to max_bytes of data (at least one). ErrCompacted if lo is
  // below FirstIndex().
  absl::StatusOr<std::vector<Entry>> Slice(Index lo, Index hi, uint64_t max_bytes) const;
  // Entries from lo to the end, limited to max_bytes (at least one if any).
  absl::StatusOr<std::vector<Entry>> EntriesFrom(Index lo, uint64_t max_bytes) const;

  Index committed() const { return committed_; }
  Index applying() const { return applying_; }
  Index applied() const { return applied_; }
  // Raises the commit index to i (never lowers it); i must be in the log.
  void CommitTo(Index i);
  // §5.3/§5.4.2: commits up to max_index only if that entry's term is `term` (the leader's
  // current term); entries of earlier terms become committed only through it. Returns whether
  // the commit index moved.
  bool MaybeCommit(Index max_index, Term term);
  // Starting positions at (re)start: the hard state's commit index and Config::applied.
  void InitPositions(Index committed, Index applied);
  // The owner acknowledged applying up to i (i <= applying()).
  void AppliedTo(Index i);

  // The last index of the durable prefix of the log: every entry up to it is in the storage and
  // is the entry this log holds at that index.
  Index PersistedLastIndex() const { return unstable_.offset() - 1; }

  // What the next Ready hands out.
  const std::vector<Entry>& UnstableEntries() const { return unstable_.entries(); }
  const std::optional<Snapshot>& UnstableSnapshot() const { return unstable_.snapshot(); }
  bool HasNextCommittedEntries() const;
  // Committed, durable entries not yet handed out, up to max_committed_bytes (at least one).
  std::vector<Entry> NextCommittedEntries() const;
  // Records that committed entries up to i were handed out.
  void AcceptApplying(Index i);

  // The owner made the unstable entries up to (i, t) / the snapshot at i durable.
  void StableTo(Index i, Term t) { unstable_.StableTo(i, t); }
  // Also counts the snapshot as applied: the owner installs the state machine image with it.
  void StableSnapTo(Index i);

  // Replaces the log with snapshot s (s.metadata.index must be above the commit index).
  void Restore(Snapshot s);

  // The newest snapshot: the pending one, or the storage's.
  absl::StatusOr<Snapshot> GetSnapshot() const;

 private:
  const LogStorage* storage_;
  UnstableLog unstable_;
  uint64_t max_committed_bytes_;
  Index committed_ = 0;
  Index applying_ = 0;
  Index applied_ = 0;
};

}  // namespace kvd::raft
