// Durability and existence checks by path, for the files and directories the store handles
// itself (snapshots, the directory swap, the creation of a new store); RocksDB syncs its own.
// Errors are the store's Io errors (errors.h), naming the call and the path.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kvd::mvcc {

// fsync(2) of a regular file: its data and metadata reach the disk.
absl::Status SyncFile(const std::string& path);
// fsync(2) of a directory: the creates, renames and removes of its entries reach the disk.
absl::Status SyncDir(const std::string& path);
// The directory holding `path` (absolute; a trailing '/' is ignored).
std::string ParentDir(const std::string& path);
// Whether something (of any type; a symlink is not followed) is at `path`: lstat(2), with
// ENOENT meaning false and any other failure an error.
absl::StatusOr<bool> PathExists(const std::string& path);

}  // namespace kvd::mvcc
