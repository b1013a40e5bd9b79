// The checks etcd's gRPC layer runs before a request reaches Raft (etcdserver/api/v3rpc/key.go),
// with etcd's error for each. The server runs them on receipt; a request that fails is answered
// with the error and never proposed. The store does not require them for safety: it evaluates
// whatever it is given atomically.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "etcdserverpb/rpc.pb.h"

namespace kvd::mvcc {

// EmptyKey.
absl::Status ValidateRange(const etcdserverpb::RangeRequest& req);
// EmptyKey, ValueProvided (ignore_value with a value), LeaseProvided (ignore_lease with a lease).
absl::Status ValidatePut(const etcdserverpb::PutRequest& req);
// EmptyKey.
absl::Status ValidateDeleteRange(const etcdserverpb::DeleteRangeRequest& req);

// TooManyOps if the largest of |compare|, |success|, |failure| exceeds max_ops (a nested txn
// gets the budget left, max_ops minus that largest count, as etcd does); EmptyKey for a compare
// or op without key; the checks above for each op; KeyNotFound for an op with no request set.
// Then DuplicateKey (etcd's checkIntervals, on success and on failure): within one branch a key
// may be put at most once and not both put and deleted, counting nested txns (a key put in both
// branches of one nested txn is fine; a delete range is [key, range_end), a point if range_end
// is empty, and range_end "\0" covers nothing for this check, exactly as in etcd).
absl::Status ValidateTxn(const etcdserverpb::TxnRequest& req, size_t max_ops);

}  // namespace kvd::mvcc
