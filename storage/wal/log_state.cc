#include "storage/wal/log_state.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kvd::wal {
namespace {

absl::Status Broken(const std::string& rule) { return absl::InvalidArgumentError(rule); }

}  // namespace

std::optional<raft::Term> LogState::TermAt(raft::Index i) const {
  if (i >= first_ && i <= last_index()) return terms_[i - first_];
  if (i == snapshot_.index) return snapshot_.term;
  return std::nullopt;
}

absl::Status LogState::Check(const BatchContent& b) const {
  // What the log looks like after each step of the batch, without changing it.
  raft::Index snap_index = snapshot_.index;
  raft::Index last = last_index();
  std::optional<raft::Term> term_before_entries;  // term of the entry before b.entries[0]

  if (!started_ && !b.segment_start) {
    return Broken("the first batch of a WAL must start a segment");
  }
  if (b.segment_start) {
    if (*b.segment_start == 0) return Broken("a segment cannot start at index 0");
    if (started_ && *b.segment_start != last + 1) {
      return Broken(absl::StrCat("a segment starting at index ", *b.segment_start,
                                 " does not follow the last index ", last));
    }
    if (!started_) last = *b.segment_start - 1;
  }

  if (b.snapshot) {
    const raft::SnapshotMetadata& s = b.snapshot->metadata;
    if (b.snapshot->kind == SnapshotKind::kInstall) {
      if (s.index <= snapshot_.index) {
        return Broken(absl::StrCat("an installed snapshot at index ", s.index,
                                   " is not newer than the snapshot at ", snapshot_.index));
      }
      last = s.index;
      term_before_entries = s.term;
    } else {
      if (s.index < snapshot_.index) {
        return Broken(absl::StrCat("a snapshot at index ", s.index,
                                   " is older than the snapshot at ", snapshot_.index));
      }
      if (s.index == snapshot_.index && s.term != snapshot_.term) {
        return Broken(absl::StrCat("a snapshot at index ", s.index, " with term ", s.term,
                                   " contradicts the one recorded with term ", snapshot_.term));
      }
      if (s.index > last) {
        return Broken(
            absl::StrCat("a snapshot at index ", s.index, " is beyond the last index ", last));
      }
      const raft::Index commit = b.hard_state ? b.hard_state->commit : hard_state_.commit;
      if (s.index > commit) {
        return Broken(
            absl::StrCat("a snapshot at index ", s.index, " is beyond the commit index ", commit));
      }
      if (started_ && s.index >= first_) {
        const raft::Term t = terms_[s.index - first_];
        if (t != s.term) {
          return Broken(absl::StrCat("a snapshot at index ", s.index, " with term ", s.term,
                                     " contradicts the log's entry with term ", t));
        }
      }
    }
    snap_index = s.index;
  }

  if (!b.entries.empty()) {
    const raft::Index e0 = b.entries.front().index;
    if (e0 <= snap_index) {
      return Broken(absl::StrCat("entry ", e0, " is not after the snapshot at ", snap_index));
    }
    if (e0 > last + 1) {
      return Broken(absl::StrCat("entry ", e0, " would leave a gap after the last index ", last));
    }
    if (e0 <= last && e0 <= hard_state_.commit) {
      return Broken(absl::StrCat("entry ", e0, " would replace a committed entry (commit index ",
                                 hard_state_.commit, ")"));
    }
    if (!term_before_entries) {
      if (e0 - 1 >= first_ && e0 - 1 <= last_index()) {
        term_before_entries = terms_[e0 - 1 - first_];
      } else if (e0 - 1 == snap_index) {
        term_before_entries = b.snapshot ? b.snapshot->metadata.term : snapshot_.term;
      }
    }
    raft::Term prev_term = term_before_entries.value_or(0);
    for (size_t k = 0; k < b.entries.size(); ++k) {
      const raft::Entry& e = b.entries[k];
      if (e.index != e0 + k) {
        return Broken(
            absl::StrCat("entries are not consecutive: index ", e.index, " follows ", e0 + k - 1));
      }
      if (e.term == 0 || e.term < prev_term) {
        return Broken(absl::StrCat("entry ", e.index, " has term ", e.term, ", below the term ",
                                   prev_term, " of the entry before it"));
      }
      prev_term = e.term;
    }
    last = b.entries.back().index;
  }

  if (b.hard_state) {
    const raft::HardState& hs = *b.hard_state;
    if (hs.term < hard_state_.term) {
      return Broken(absl::StrCat("hard state term ", hs.term, " is below the recorded term ",
                                 hard_state_.term));
    }
    if (hs.term == hard_state_.term && hard_state_.vote != raft::kNoNode &&
        hs.vote != hard_state_.vote) {
      return Broken(absl::StrCat("hard state changes the vote in term ", hs.term, " from ",
                                 hard_state_.vote, " to ", hs.vote));
    }
    if (hs.commit < hard_state_.commit) {
      return Broken(absl::StrCat("hard state commit ", hs.commit, " is below the recorded commit ",
                                 hard_state_.commit));
    }
    if (hs.commit > last) {
      return Broken(
          absl::StrCat("hard state commit ", hs.commit, " is beyond the last index ", last));
    }
  }
  return absl::OkStatus();
}

void LogState::Apply(const BatchContent& b) {
  if (b.segment_start && !started_) {
    started_ = true;
    first_ = *b.segment_start;
    terms_.clear();
  }
  if (b.snapshot) {
    const raft::SnapshotMetadata& s = b.snapshot->metadata;
    if (b.snapshot->kind == SnapshotKind::kInstall) {
      terms_.clear();
      first_ = s.index + 1;
    } else if (s.index >= first_) {
      terms_.erase(terms_.begin(), terms_.begin() + static_cast<ptrdiff_t>(s.index + 1 - first_));
      first_ = s.index + 1;
    }
    if (s.index > snapshot_.index) snapshot_ = s;
  }
  if (!b.entries.empty()) {
    const raft::Index e0 = b.entries.front().index;
    if (e0 < first_) {
      terms_.clear();
      first_ = e0;
    } else {
      terms_.resize(e0 - first_);
    }
    for (const raft::Entry& e : b.entries) terms_.push_back(e.term);
  }
  if (b.hard_state) hard_state_ = *b.hard_state;
}

}  // namespace kvd::wal
