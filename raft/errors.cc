#include "raft/errors.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace kvd::raft {
namespace {

// Each kind is an absl::StatusCode plus a fixed message prefix; the predicates test both, so a
// caller's own FailedPrecondition is never mistaken for one of these.
constexpr absl::string_view kCompacted = "requested index is unavailable due to compaction";
constexpr absl::string_view kUnavailable = "requested entry at index is unavailable";
constexpr absl::string_view kSnapshotTemporarilyUnavailable = "snapshot is temporarily unavailable";
constexpr absl::string_view kProposalDropped = "raft proposal dropped";
constexpr absl::string_view kStepRejected = "raft message rejected";

bool Is(const absl::Status& s, absl::StatusCode code, absl::string_view prefix) {
  return s.code() == code && absl::StartsWith(s.message(), prefix);
}

}  // namespace

absl::Status ErrCompacted() { return absl::OutOfRangeError(kCompacted); }
bool IsCompacted(const absl::Status& s) { return Is(s, absl::StatusCode::kOutOfRange, kCompacted); }

absl::Status ErrUnavailable() { return absl::OutOfRangeError(kUnavailable); }
bool IsUnavailable(const absl::Status& s) {
  return Is(s, absl::StatusCode::kOutOfRange, kUnavailable);
}

absl::Status ErrSnapshotTemporarilyUnavailable() {
  return absl::UnavailableError(kSnapshotTemporarilyUnavailable);
}
bool IsSnapshotTemporarilyUnavailable(const absl::Status& s) {
  return Is(s, absl::StatusCode::kUnavailable, kSnapshotTemporarilyUnavailable);
}

absl::Status ErrProposalDropped(std::string_view why) {
  return absl::UnavailableError(
      absl::StrCat(kProposalDropped, ": ", absl::string_view(why.data(), why.size())));
}
bool IsProposalDropped(const absl::Status& s) {
  return Is(s, absl::StatusCode::kUnavailable, kProposalDropped);
}

absl::Status ErrStepRejected(std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(kStepRejected, ": ", absl::string_view(why.data(), why.size())));
}
bool IsStepRejected(const absl::Status& s) {
  return Is(s, absl::StatusCode::kInvalidArgument, kStepRejected);
}

}  // namespace kvd::raft
