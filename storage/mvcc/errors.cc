#include "storage/mvcc/errors.h"

#include <string>

#include "absl/strings/cord.h"
#include "storage/strings.h"

namespace kvd::mvcc {
namespace {

constexpr std::string_view kKindPayload = "type.kvd.dev/mvcc.ErrorKind";

absl::Status Make(absl::StatusCode code, std::string_view message, ErrorKind kind) {
  absl::Status s(code, absl::string_view(message.data(), message.size()));
  s.SetPayload(absl::string_view(kKindPayload.data(), kKindPayload.size()),
               absl::Cord(std::to_string(static_cast<int>(kind))));
  return s;
}

}  // namespace

absl::Status ErrCompacted() {
  return Make(absl::StatusCode::kOutOfRange, kCompactedMessage, ErrorKind::kCompacted);
}
absl::Status ErrFutureRevision() {
  return Make(absl::StatusCode::kOutOfRange, kFutureRevisionMessage, ErrorKind::kFutureRevision);
}
absl::Status ErrKeyNotFound() {
  return Make(absl::StatusCode::kInvalidArgument, kKeyNotFoundMessage, ErrorKind::kKeyNotFound);
}
absl::Status ErrLeaseNotFound() {
  return Make(absl::StatusCode::kNotFound, kLeaseNotFoundMessage, ErrorKind::kLeaseNotFound);
}
absl::Status ErrEmptyKey() {
  return Make(absl::StatusCode::kInvalidArgument, kEmptyKeyMessage, ErrorKind::kEmptyKey);
}
absl::Status ErrValueProvided() {
  return Make(absl::StatusCode::kInvalidArgument, kValueProvidedMessage, ErrorKind::kValueProvided);
}
absl::Status ErrLeaseProvided() {
  return Make(absl::StatusCode::kInvalidArgument, kLeaseProvidedMessage, ErrorKind::kLeaseProvided);
}
absl::Status ErrTooManyOps() {
  return Make(absl::StatusCode::kInvalidArgument, kTooManyOpsMessage, ErrorKind::kTooManyOps);
}
absl::Status ErrDuplicateKey() {
  return Make(absl::StatusCode::kInvalidArgument, kDuplicateKeyMessage, ErrorKind::kDuplicateKey);
}
absl::Status ErrCorrupt(std::string_view what) {
  return Make(absl::StatusCode::kDataLoss, storage::Cat("mvcc: corrupt store: ", what),
              ErrorKind::kCorrupt);
}
absl::Status ErrNotAStore(std::string_view dir, std::string_view why) {
  return Make(absl::StatusCode::kFailedPrecondition,
              storage::Cat("mvcc: ", dir, " is not a kvd MVCC store: ", why),
              ErrorKind::kNotAStore);
}
absl::Status ErrBadSnapshot(std::string_view dir, std::string_view why) {
  return Make(absl::StatusCode::kDataLoss, storage::Cat("mvcc: bad snapshot ", dir, ": ", why),
              ErrorKind::kBadSnapshot);
}
absl::Status ErrIo(std::string_view operation, std::string_view detail) {
  return Make(absl::StatusCode::kInternal, storage::Cat("mvcc: ", operation, ": ", detail),
              ErrorKind::kIo);
}

bool IsError(const absl::Status& s, ErrorKind kind) {
  auto payload = s.GetPayload(absl::string_view(kKindPayload.data(), kKindPayload.size()));
  return payload.has_value() && *payload == std::to_string(static_cast<int>(kind));
}

}  // namespace kvd::mvcc
