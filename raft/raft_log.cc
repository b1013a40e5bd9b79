#include "raft/raft_log.h"

#include <algorithm>
#include <utility>

#include "raft/check.h"
#include "raft/entry_size.h"
#include "raft/errors.h"

namespace kvd::raft {

RaftLog::RaftLog(const LogStorage* storage, uint64_t max_committed_bytes)
    : storage_(storage),
      unstable_(storage->LastIndex() + 1),
      max_committed_bytes_(max_committed_bytes) {
  committed_ = applying_ = applied_ = storage_->FirstIndex() - 1;
}

Index RaftLog::FirstIndex() const {
  if (std::optional<Index> i = unstable_.MaybeFirstIndex()) return *i;
  return storage_->FirstIndex();
}

Index RaftLog::LastIndex() const {
  if (std::optional<Index> i = unstable_.MaybeLastIndex()) return *i;
  return storage_->LastIndex();
}

absl::StatusOr<Term> RaftLog::TermAt(Index i) const {
  // The valid range is [FirstIndex() - 1, LastIndex()]: the entry before the first one is the
  // snapshot's last entry, whose term is kept.
  if (i + 1 < FirstIndex()) return ErrCompacted();
  if (i > LastIndex()) return ErrUnavailable();
  if (std::optional<Term> t = unstable_.MaybeTerm(i)) return *t;
  absl::StatusOr<Term> t = storage_->GetTerm(i);
  if (t.ok() || IsCompacted(t.status())) return t;
  // The storage must hold every index below the unstable part.
  KVD_CHECK(false, "term of index ", i, " missing from storage: ", t.status().ToString());
  return t;
}

Term RaftLog::TermOrZero(Index i) const {
  absl::StatusOr<Term> t = TermAt(i);
  return t.ok() ? *t : 0;
}

Term RaftLog::LastTerm() const {
  absl::StatusOr<Term> t = TermAt(LastIndex());
  KVD_CHECK(t.ok(), "term of the last index ", LastIndex(), " unknown: ", t.status().ToString());
  return *t;
}

bool RaftLog::MatchTerm(Index i, Term t) const {
  absl::StatusOr<Term> term = TermAt(i);
  return term.ok() && *term == t;
}

bool RaftLog::IsUpToDate(Index last_index, Term last_term) const {
  const Term my_last_term = LastTerm();
  return last_term > my_last_term || (last_term == my_last_term && last_index >= LastIndex());
}

std::optional<Index> RaftLog::MaybeAppend(Index prev_index, Term prev_term, Index leader_commit,
                                          std::vector<Entry> ents) {
  if (!MatchTerm(prev_index, prev_term)) return std::nullopt;
  const Index last_new = prev_index + ents.size();
  const Index conflict = FindConflict(ents);
  if (conflict != 0) {
    // Log matching (§5.3): an entry that conflicts with a committed one would mean two different
    // entries were committed at one index.
    KVD_CHECK(conflict > committed_, "entry ", conflict, " conflicts with committed entry; commit ",
              committed_);
    const Index skip = conflict - (prev_index + 1);
    ents.erase(ents.begin(), ents.begin() + static_cast<std::ptrdiff_t>(skip));
    Append(std::move(ents));
  }
  // Only entries known to match the leader's may be committed: not beyond the last new entry,
  // whatever else this log holds after it.
  CommitTo(std::min(leader_commit, last_new));
  return last_new;
}

Index RaftLog::Append(std::vector<Entry> ents) {
  if (ents.empty()) return LastIndex();
  const Index after = ents.front().index - 1;
  KVD_CHECK(after >= committed_, "appending after index ", after, " is below the commit index ",
            committed_);
  KVD_CHECK(after <= LastIndex(), "appending after index ", after, " leaves a gap after ",
            LastIndex());
  unstable_.TruncateAndAppend(std::move(ents));
  return LastIndex();
}

Index RaftLog::FindConflict(const std::vector<Entry>& ents) const {
  for (const Entry& e : ents) {
    if (!MatchTerm(e.index, e.term)) return e.index;
  }
  return 0;
}

std::pair<Index, Term> RaftLog::FindConflictByTerm(Index index, Term term) const {
  KVD_CHECK(index <= LastIndex(), "index ", index, " beyond the last index ", LastIndex());
  // Every entry of a term above `term` cannot match the other log at any index, since the other
  // log's entry there has term <= `term`; skipping them all at once is what lets the leader skip
  // a whole term per round trip.
  for (;;) {
    absl::StatusOr<Term> t = TermAt(index);
    if (!t.ok()) return {index, 0};
    if (*t <= term) return {index, *t};
    if (index == 0) return {0, 0};
    --index;
  }
}

absl::StatusOr<std::vector<Entry>> RaftLog::Slice(Index lo, Index hi, uint64_t max_bytes) const {
  KVD_CHECK(lo <= hi, "invalid slice [", lo, ", ", hi, ")");
  if (lo < FirstIndex()) return ErrCompacted();
  KVD_CHECK(hi <= LastIndex() + 1, "slice [", lo, ", ", hi, ") beyond the last index ",
            LastIndex());
  if (lo == hi) return std::vector<Entry>{};
  std::vector<Entry> out;
  const Index offset = unstable_.offset();
  if (lo < offset) {
    absl::StatusOr<std::vector<Entry>> stored =
        storage_->Entries(lo, std::min(hi, offset), max_bytes);
    if (!stored.ok()) {
      if (IsCompacted(stored.status())) return stored.status();
      KVD_CHECK(false, "entries [", lo, ", ", std::min(hi, offset),
                ") missing from storage: ", stored.status().ToString());
    }
    // The storage stopped early for size: nothing from the unstable part can follow.
    if (stored->size() < std::min(hi, offset) - lo) return stored;
    out = std::move(*stored);
  }
  if (hi > offset) {
    std::vector<Entry> tail = unstable_.Slice(std::max(lo, offset), hi);
    if (out.empty()) {
      out = std::move(tail);
    } else {
      out.insert(out.end(), std::make_move_iterator(tail.begin()),
                 std::make_move_iterator(tail.end()));
    }
  }
  LimitEntriesSize(out, max_bytes);
  return out;
}

absl::StatusOr<std::vector<Entry>> RaftLog::EntriesFrom(Index lo, uint64_t max_bytes) const {
  if (lo > LastIndex()) return std::vector<Entry>{};
  return Slice(lo, LastIndex() + 1, max_bytes);
}

void RaftLog::CommitTo(Index i) {
  if (i <= committed_) return;
  KVD_CHECK(i <= LastIndex(), "commit index ", i, " beyond the last index ", LastIndex(),
            " (is the log corrupted, truncated or lost?)");
  committed_ = i;
}

bool RaftLog::MaybeCommit(Index max_index, Term term) {
  // §5.4.2: a leader commits by counting replicas only entries of its current term. An entry of
  // an earlier term stored on a majority can still be overwritten by a future leader (Figure 8);
  // once an entry of the current term is committed above it, it cannot.
  if (max_index > committed_ && TermOrZero(max_index) == term) {
    CommitTo(max_index);
    return true;
  }
  return false;
}

void RaftLog::InitPositions(Index committed, Index applied) {
  KVD_CHECK(applied <= committed, "applied ", applied, " beyond committed ", committed);
  committed_ = committed;
  applying_ = applied_ = applied;
}

void RaftLog::AppliedTo(Index i) {
  if (i <= applied_) return;
  KVD_CHECK(i <= applying_, "applied index ", i, " beyond the entries handed out (", applying_,
            ")");
  applied_ = i;
}

bool RaftLog::HasNextCommittedEntries() const {
  if (unstable_.snapshot()) return false;  // the state machine is about to be replaced
  return std::min(committed_, PersistedLastIndex()) > applying_;
}

std::vector<Entry> RaftLog::NextCommittedEntries() const {
  if (!HasNextCommittedEntries()) return {};
  // Only durable entries: applying an entry this node could still lose in a crash would let its
  // state machine run ahead of its own log after a restart.
  const Index hi = std::min(committed_, PersistedLastIndex()) + 1;
  absl::StatusOr<std::vector<Entry>> ents = Slice(applying_ + 1, hi, max_committed_bytes_);
  KVD_CHECK(ents.ok(), "committed entries [", applying_ + 1, ", ", hi,
            ") unavailable: ", ents.status().ToString(), " (compacted before being applied?)");
  return std::move(*ents);
}

void RaftLog::AcceptApplying(Index i) {
  KVD_CHECK(i <= committed_, "handing out index ", i, " beyond committed ", committed_);
  applying_ = std::max(applying_, i);
}

void RaftLog::StableSnapTo(Index i) {
  unstable_.StableSnapTo(i);
  applying_ = std::max(applying_, i);
  applied_ = std::max(applied_, i);
}

void RaftLog::Restore(Snapshot s) {
  KVD_CHECK(s.metadata.index > committed_, "restoring snapshot at ", s.metadata.index,
            " at or below the commit index ", committed_);
  committed_ = s.metadata.index;
  unstable_.Restore(std::move(s));
}

absl::StatusOr<Snapshot> RaftLog::GetSnapshot() const {
  if (unstable_.snapshot()) return *unstable_.snapshot();
  return storage_->GetSnapshot();
}

}  // namespace kvd::raft
