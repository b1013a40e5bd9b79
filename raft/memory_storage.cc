#include "raft/memory_storage.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "raft/entry_size.h"
#include "raft/errors.h"

namespace kvd::raft {

MemoryStorage::MemoryStorage(ConfState bootstrap) : bootstrap_(std::move(bootstrap)) {}

InitialState MemoryStorage::GetInitialState() const {
  return InitialState{
      .hard_state = hard_state_,
      .conf_state = snapshot_.IsEmpty() ? bootstrap_ : snapshot_.metadata.conf_state,
  };
}

absl::StatusOr<std::vector<Entry>> MemoryStorage::Entries(Index lo, Index hi,
                                                          uint64_t max_bytes) const {
  if (lo < FirstIndex()) return ErrCompacted();
  if (hi > LastIndex() + 1) return ErrUnavailable();
  if (lo >= hi) return std::vector<Entry>{};
  std::vector<Entry> out;
  out.reserve(hi - lo);
  uint64_t total = 0;
  for (Index i = lo; i < hi; ++i) {
    const Entry& e = entries_[i - offset()];
    total += EntryDataBytes(e);
    if (!out.empty() && total > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<Term> MemoryStorage::GetTerm(Index i) const {
  if (i < prefix_index_) return ErrCompacted();
  if (i > LastIndex()) return ErrUnavailable();
  if (i == prefix_index_) return prefix_term_;
  return entries_[i - offset()].term;
}

Index MemoryStorage::FirstIndex() const { return offset(); }

Index MemoryStorage::LastIndex() const { return prefix_index_ + entries_.size(); }

absl::StatusOr<Snapshot> MemoryStorage::GetSnapshot() const { return snapshot_; }

void MemoryStorage::SetHardState(const HardState& hs) { hard_state_ = hs; }

absl::Status MemoryStorage::Append(const std::vector<Entry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  for (size_t k = 1; k < entries.size(); ++k) {
    if (entries[k].index != entries[k - 1].index + 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("entries to append are not consecutive: ", entries[k - 1].index,
                       " is followed by ", entries[k].index));
    }
  }
  const Index first_new = entries.front().index;
  const Index last_new = entries.back().index;
  if (first_new > LastIndex() + 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "appending entry ", first_new, " would leave a gap after last index ", LastIndex()));
  }
  if (last_new < offset()) return absl::OkStatus();  // all already compacted
  // Skip the part that falls into the compacted prefix, truncate the conflicting suffix.
  size_t skip = first_new < offset() ? offset() - first_new : 0;
  const Index start = first_new + skip;
  entries_.resize(start - offset());
  entries_.insert(entries_.end(), entries.begin() + static_cast<std::ptrdiff_t>(skip),
                  entries.end());
  return absl::OkStatus();
}

absl::Status MemoryStorage::ApplySnapshot(Snapshot snapshot) {
  if (snapshot.IsEmpty()) {
    return absl::FailedPreconditionError("cannot install an empty snapshot");
  }
  if (snapshot.metadata.index <= snapshot_.metadata.index) {
    return absl::FailedPreconditionError(absl::StrCat("snapshot at index ", snapshot.metadata.index,
                                                      " is not newer than the installed one at ",
                                                      snapshot_.metadata.index));
  }
  prefix_index_ = snapshot.metadata.index;
  prefix_term_ = snapshot.metadata.term;
  entries_.clear();
  snapshot_ = std::move(snapshot);
  return absl::OkStatus();
}

absl::StatusOr<Snapshot> MemoryStorage::CreateSnapshot(Index i, const ConfState& conf,
                                                       std::string data) {
  if (i <= snapshot_.metadata.index) {
    return absl::FailedPreconditionError(absl::StrCat("snapshot at index ", i,
                                                      " is not newer than the current one at ",
                                                      snapshot_.metadata.index));
  }
  if (i > LastIndex()) return ErrUnavailable();
  absl::StatusOr<Term> term = GetTerm(i);
  if (!term.ok()) return term.status();
  snapshot_ = Snapshot{
      .metadata = {.conf_state = conf, .index = i, .term = *term},
      .data = std::move(data),
  };
  return snapshot_;
}

absl::Status MemoryStorage::Compact(Index compact_index) {
  if (compact_index <= prefix_index_) return ErrCompacted();
  if (compact_index > LastIndex()) return ErrUnavailable();
  if (compact_index > snapshot_.metadata.index) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot compact through index ", compact_index, " past the latest snapshot at ",
        snapshot_.metadata.index, "; create a snapshot first"));
  }
  prefix_term_ = entries_[compact_index - offset()].term;
  entries_.erase(entries_.begin(),
                 entries_.begin() + static_cast<std::ptrdiff_t>(compact_index - offset() + 1));
  prefix_index_ = compact_index;
  return absl::OkStatus();
}

}  // namespace kvd::raft
