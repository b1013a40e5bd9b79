// The errors of the MVCC store. Every error crosses the module border as an absl::Status whose
// code is the gRPC code etcd answers with and whose message is etcd's exact error string, so the
// server's single error-mapping place turns a Status into a gRPC status by copying code and
// message. Callers test for a kind with the predicates below (they read a payload, not the text).
//
// | kind               | absl code          | message |
// |--------------------|--------------------|-----------------------------------------------------------|
// | Compacted          | OutOfRange         | etcdserver: mvcc: required revision has been
// compacted    | | FutureRevision     | OutOfRange         | etcdserver: mvcc: required revision is
// a future revision  | | KeyNotFound        | InvalidArgument    | etcdserver: key not found | |
// LeaseNotFound      | NotFound           | etcdserver: requested lease not found | | EmptyKey |
// InvalidArgument    | etcdserver: key is not provided                           | | ValueProvided
// | InvalidArgument    | etcdserver: value is provided                             | |
// LeaseProvided      | InvalidArgument    | etcdserver: lease is provided | | TooManyOps         |
// InvalidArgument    | etcdserver: too many operations in txn request            | | DuplicateKey
// | InvalidArgument    | etcdserver: duplicate key given in txn request            | | Corrupt |
// DataLoss           | mvcc: corrupt store: <what, where>                        | | NotAStore |
// FailedPrecondition | mvcc: <dir> is not a kvd MVCC store: <why>                | | BadSnapshot |
// DataLoss           | mvcc: bad snapshot <dir>: <why>                           | | Io | Internal
// | mvcc: <operation>: <RocksDB or OS error>                  |
//
// Kinds above the line separating Io and Corrupt from the rest are etcd's and reach clients;
// Corrupt, NotAStore, BadSnapshot and Io are the store's own and mean the member cannot serve.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace kvd::mvcc {

enum class ErrorKind {
  kCompacted,
  kFutureRevision,
  kKeyNotFound,
  kLeaseNotFound,
  kEmptyKey,
  kValueProvided,
  kLeaseProvided,
  kTooManyOps,
  kDuplicateKey,
  kCorrupt,
  kNotAStore,
  kBadSnapshot,
  kIo,
};

// The etcd error strings, for tests and for the server's documentation.
inline constexpr std::string_view kCompactedMessage =
    "etcdserver: mvcc: required revision has been compacted";
inline constexpr std::string_view kFutureRevisionMessage =
    "etcdserver: mvcc: required revision is a future revision";
inline constexpr std::string_view kKeyNotFoundMessage = "etcdserver: key not found";
inline constexpr std::string_view kLeaseNotFoundMessage = "etcdserver: requested lease not found";
inline constexpr std::string_view kEmptyKeyMessage = "etcdserver: key is not provided";
inline constexpr std::string_view kValueProvidedMessage = "etcdserver: value is provided";
inline constexpr std::string_view kLeaseProvidedMessage = "etcdserver: lease is provided";
inline constexpr std::string_view kTooManyOpsMessage =
    "etcdserver: too many operations in txn request";
inline constexpr std::string_view kDuplicateKeyMessage =
    "etcdserver: duplicate key given in txn request";

absl::Status ErrCompacted();
absl::Status ErrFutureRevision();
absl::Status ErrKeyNotFound();
absl::Status ErrLeaseNotFound();
absl::Status ErrEmptyKey();
absl::Status ErrValueProvided();
absl::Status ErrLeaseProvided();
absl::Status ErrTooManyOps();
absl::Status ErrDuplicateKey();
absl::Status ErrCorrupt(std::string_view what);
absl::Status ErrNotAStore(std::string_view dir, std::string_view why);
absl::Status ErrBadSnapshot(std::string_view dir, std::string_view why);
absl::Status ErrIo(std::string_view operation, std::string_view detail);

// True if `s` is an error of `kind` made by this module.
bool IsError(const absl::Status& s, ErrorKind kind);
inline bool IsCompacted(const absl::Status& s) { return IsError(s, ErrorKind::kCompacted); }
inline bool IsFutureRevision(const absl::Status& s) {
  return IsError(s, ErrorKind::kFutureRevision);
}

}  // namespace kvd::mvcc
