#include "raft/progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "raft/check.h"

namespace kvd::raft {

const char* ProgressStateName(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe:
      return "StateProbe";
    case ProgressState::kReplicate:
      return "StateReplicate";
    case ProgressState::kSnapshot:
      return "StateSnapshot";
  }
  return "StateUnknown";
}

Progress::Progress(Index next_index, size_t max_inflight, bool learner)
    : next(next_index), is_learner(learner), inflights(max_inflight) {}

void Progress::Reset(Index next_index) {
  match = 0;
  next = next_index;
  state = ProgressState::kProbe;
  pending_snapshot = 0;
  recent_active = false;
  probe_sent = false;
  inflights.Reset();
}

void Progress::BecomeProbe() {
  // Coming back from a snapshot, the follower has at least the snapshot's entries (if it was
  // installed), so probing starts after them.
  if (state == ProgressState::kSnapshot) {
    next = std::max(match + 1, pending_snapshot + 1);
  } else {
    next = match + 1;
  }
  state = ProgressState::kProbe;
  pending_snapshot = 0;
  probe_sent = false;
  inflights.Reset();
}

void Progress::BecomeReplicate() {
  state = ProgressState::kReplicate;
  next = match + 1;
  pending_snapshot = 0;
  probe_sent = false;
  inflights.Reset();
}

void Progress::BecomeSnapshot(Index snapshot_index) {
  state = ProgressState::kSnapshot;
  pending_snapshot = snapshot_index;
  snapshot_ticks = 0;
  probe_sent = false;
  inflights.Reset();
}

bool Progress::MaybeUpdate(Index n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

void Progress::SentEntries(Index last, size_t entries) {
  switch (state) {
    case ProgressState::kReplicate:
      if (entries > 0) {
        next = last + 1;
        inflights.Add(last);
      }
      break;
    case ProgressState::kProbe:
      probe_sent = true;
      break;
    case ProgressState::kSnapshot:
      KVD_CHECK(false, "sending entries to a member in StateSnapshot");
  }
}

bool Progress::MaybeDecrTo(Index rejected, Index match_hint) {
  if (state == ProgressState::kReplicate) {
    // A rejection of something already acknowledged as matching is stale (reordered).
    if (rejected <= match) return false;
    // The follower lost entries it had acknowledged, or the pipeline broke: probe from match.
    next = match + 1;
    return true;
  }
  // In probe, only the answer to the latest probe counts.
  if (next == 0 || next - 1 != rejected) return false;
  next = std::max(std::min(rejected, match_hint + 1), match + 1);
  probe_sent = false;
  return true;
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.Full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

std::string Progress::Describe() const {
  std::string out = absl::StrCat(ProgressStateName(state), " match=", match, " next=", next);
  if (is_learner) absl::StrAppend(&out, " learner");
  if (state == ProgressState::kSnapshot)
    absl::StrAppend(&out, " pending_snapshot=", pending_snapshot);
  if (!recent_active) absl::StrAppend(&out, " inactive");
  if (probe_sent) absl::StrAppend(&out, " paused");
  if (inflights.Count() > 0) absl::StrAppend(&out, " inflight=", inflights.Count());
  if (inflights.Full()) absl::StrAppend(&out, "[full]");
  return out;
}

}  // namespace kvd::raft
