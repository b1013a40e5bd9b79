#include "raft/unstable_log.h"

#include <utility>

#include "raft/check.h"

namespace kvd::raft {

std::optional<Index> UnstableLog::MaybeFirstIndex() const {
  if (snapshot_) return snapshot_->metadata.index + 1;
  return std::nullopt;
}

std::optional<Index> UnstableLog::MaybeLastIndex() const {
  if (!entries_.empty()) return offset_ + entries_.size() - 1;
  if (snapshot_) return snapshot_->metadata.index;
  return std::nullopt;
}

std::optional<Term> UnstableLog::MaybeTerm(Index i) const {
  if (i < offset_) {
    if (snapshot_ && snapshot_->metadata.index == i) return snapshot_->metadata.term;
    return std::nullopt;
  }
  if (i - offset_ >= entries_.size()) return std::nullopt;
  return entries_[i - offset_].term;
}

void UnstableLog::StableTo(Index i, Term t) {
  std::optional<Term> term = MaybeTerm(i);
  // Only entries (not a snapshot's last index) can become stable this way, and only if the
  // entry handed out is still the one here.
  if (!term || *term != t || i < offset_) return;
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(i + 1 - offset_));
  offset_ = i + 1;
}

void UnstableLog::StableSnapTo(Index i) {
  if (snapshot_ && snapshot_->metadata.index == i) snapshot_.reset();
}

void UnstableLog::Restore(Snapshot s) {
  offset_ = s.metadata.index + 1;
  entries_.clear();
  snapshot_ = std::move(s);
}

void UnstableLog::TruncateAndAppend(std::vector<Entry> ents) {
  KVD_CHECK(!ents.empty(), "appending no entries");
  const Index after = ents.front().index;
  if (after == offset_ + entries_.size()) {
    // Directly after the last entry: plain append.
    entries_.insert(entries_.end(), std::make_move_iterator(ents.begin()),
                    std::make_move_iterator(ents.end()));
  } else if (after <= offset_) {
    // Replaces the whole unstable part (and, once persisted, the storage's entries from `after`).
    offset_ = after;
    entries_ = std::move(ents);
  } else {
    KVD_CHECK(after < offset_ + entries_.size(), "appending entry ", after,
              " would leave a gap after unstable entry ", offset_ + entries_.size() - 1);
    // Replaces a suffix of the unstable entries.
    entries_.resize(after - offset_);
    entries_.insert(entries_.end(), std::make_move_iterator(ents.begin()),
                    std::make_move_iterator(ents.end()));
  }
}

std::vector<Entry> UnstableLog::Slice(Index lo, Index hi) const {
  KVD_CHECK(lo <= hi, "invalid unstable slice [", lo, ", ", hi, ")");
  KVD_CHECK(offset_ <= lo && hi <= offset_ + entries_.size(), "unstable slice [", lo, ", ", hi,
            ") out of bounds [", offset_, ", ", offset_ + entries_.size(), ")");
  return std::vector<Entry>(entries_.begin() + static_cast<std::ptrdiff_t>(lo - offset_),
                            entries_.begin() + static_cast<std::ptrdiff_t>(hi - offset_));
}

}  // namespace kvd::raft
