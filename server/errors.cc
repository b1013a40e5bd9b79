#include "server/errors.h"

#include <string>

namespace kvd::server {

absl::Status ErrNoLeader() { return absl::UnavailableError("etcdserver: no leader"); }
absl::Status ErrTimeout() { return absl::UnavailableError("etcdserver: request timed out"); }
absl::Status ErrTimeoutLeaderFail() {
  return absl::UnavailableError(
      "etcdserver: request timed out, possibly due to previous leader failure");
}
absl::Status ErrLeaderChanged() { return absl::UnavailableError("etcdserver: leader changed"); }
absl::Status ErrStopped() { return absl::UnavailableError("etcdserver: server stopped"); }
absl::Status ErrNotLeader() { return absl::FailedPreconditionError("etcdserver: not leader"); }
absl::Status ErrRequestTooLarge() {
  return absl::InvalidArgumentError("etcdserver: request is too large");
}
absl::Status ErrTooManyOps() {
  return absl::InvalidArgumentError("etcdserver: too many operations in txn request");
}
absl::Status ErrDuplicateKey() {
  return absl::InvalidArgumentError("etcdserver: duplicate key given in txn request");
}
absl::Status ErrEmptyKey() { return absl::InvalidArgumentError("etcdserver: key is not provided"); }
absl::Status ErrKeyNotFound() { return absl::InvalidArgumentError("etcdserver: key not found"); }
absl::Status ErrCompacted() {
  return absl::OutOfRangeError("etcdserver: mvcc: required revision has been compacted");
}
absl::Status ErrFutureRev() {
  return absl::OutOfRangeError("etcdserver: mvcc: required revision is a future revision");
}
absl::Status ErrNoSpace() {
  return absl::ResourceExhaustedError("etcdserver: mvcc: database space exceeded");
}
absl::Status ErrLeaseNotFound() {
  return absl::NotFoundError("etcdserver: requested lease not found");
}
absl::Status ErrLeaseExist() {
  return absl::FailedPreconditionError("etcdserver: lease already exists");
}
absl::Status ErrLeaseTTLTooLarge() {
  return absl::OutOfRangeError("etcdserver: too large lease TTL");
}
absl::Status ErrMemberNotFound() { return absl::NotFoundError("etcdserver: member not found"); }
absl::Status ErrBadLeaderTransferee() {
  return absl::FailedPreconditionError("etcdserver: bad leader transferee");
}
absl::Status ErrCorrupt() { return absl::DataLossError("etcdserver: corrupt cluster"); }

bool IsErr(const absl::Status& s, const absl::Status& kind) {
  return s.code() == kind.code() && s.message() == kind.message();
}

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share their numbering (both follow google.rpc.Code).
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace kvd::server
