// The one place where kvd's errors become what etcd clients expect on the wire.
//
// Inside kvd an error is an absl::Status whose code and message are already etcd's (the
// constructors below, and the MVCC store's errors, which use the same codes and texts). At the
// gRPC boundary ToGrpcStatus() carries code and message over unchanged; absl's and gRPC's status
// codes have the same numbering. Clients (etcdctl, clientv3, python-etcd3) recognize the
// message texts, so they never change.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace kvd::server {

absl::Status ErrNoLeader();  // Unavailable "etcdserver: no leader"
absl::Status ErrTimeout();   // Unavailable "etcdserver: request timed out"
absl::Status
ErrTimeoutLeaderFail();  // Unavailable "...timed out, possibly due to previous leader failure"
absl::Status ErrLeaderChanged();    // Unavailable "etcdserver: leader changed"
absl::Status ErrStopped();          // Unavailable "etcdserver: server stopped"
absl::Status ErrNotLeader();        // FailedPrecondition "etcdserver: not leader"
absl::Status ErrRequestTooLarge();  // InvalidArgument "etcdserver: request is too large"
absl::Status ErrTooManyOps();    // InvalidArgument "etcdserver: too many operations in txn request"
absl::Status ErrDuplicateKey();  // InvalidArgument "etcdserver: duplicate key given in txn request"
absl::Status ErrEmptyKey();      // InvalidArgument "etcdserver: key is not provided"
absl::Status ErrKeyNotFound();   // InvalidArgument "etcdserver: key not found"
absl::Status ErrCompacted();  // OutOfRange "etcdserver: mvcc: required revision has been compacted"
absl::Status
ErrFutureRev();             // OutOfRange "etcdserver: mvcc: required revision is a future revision"
absl::Status ErrNoSpace();  // ResourceExhausted "etcdserver: mvcc: database space exceeded"
absl::Status ErrLeaseNotFound();        // NotFound "etcdserver: requested lease not found"
absl::Status ErrLeaseExist();           // FailedPrecondition "etcdserver: lease already exists"
absl::Status ErrLeaseTTLTooLarge();     // OutOfRange "etcdserver: too large lease TTL"
absl::Status ErrMemberNotFound();       // NotFound "etcdserver: member not found"
absl::Status ErrBadLeaderTransferee();  // FailedPrecondition "etcdserver: bad leader transferee"
absl::Status ErrCorrupt();              // DataLoss "etcdserver: corrupt cluster"

bool IsErr(const absl::Status& s, const absl::Status& kind);

grpc::Status ToGrpcStatus(const absl::Status& s);

}  // namespace kvd::server
