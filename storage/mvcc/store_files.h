// The store's directories outside the files RocksDB manages itself: creating a new database so
// that a crash never leaves a half-made one in place, and the options the directory swap of
// InstallSnapshot runs with (directory_swap.h).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "storage/mvcc/directory_swap.h"
#include "storage/mvcc/store.h"

namespace kvd::mvcc {

// "<dir>.creating": where CreateDatabase builds a new database.
std::string CreatingPath(const std::string& dir);

// Creates an empty RocksDB database at `dir`, which must be missing or an empty directory: the
// database is built in CreatingPath(dir) (RocksDB writes LOCK, LOG, IDENTITY and a MANIFEST
// before CURRENT, so a crash inside its first open would otherwise leave `dir` holding files but
// no database), fsynced, then renamed over `dir`, and the parent directory fsynced. A crash at
// any point leaves `dir` as it was or holding the whole new database.
absl::Status CreateDatabase(const std::string& dir, const StoreOptions& options);

// Removes what a creation interrupted by a crash left in CreatingPath(dir), durably.
absl::Status RemoveInterruptedCreation(const std::string& dir, const StoreOptions& options);

SwapOptions SwapOptionsOf(const StoreOptions& options);

}  // namespace kvd::mvcc
