// DataDir: a member's data directory, checked and locked.
//
// LAYOUT (data directory FORMAT VERSION 1)
//   <data-dir>/kvd.version   one line, "kvd-data-dir-format: 1\n". Written last when the
//                            directory is initialized (temp file, fsync, rename, fsync of the
//                            directory), so its presence means the layout below is complete.
//   <data-dir>/kvd.lock      flock(2)ed, exclusively, by the process using the directory; holds
//                            that process's pid, for error messages only. Never removed.
//   <data-dir>/wal/          the Raft WAL (storage/wal)
//   <data-dir>/db/           the state machine's RocksDB (storage/mvcc)
//   <data-dir>/snap/         snapshots
// and, only while the store is replacing its database or building a new one (crash leftovers,
// which opening the store recovers; storage/mvcc/directory_swap.h, store_files.h):
//   <data-dir>/db.replaced/  the previous database during a snapshot install; a crash can
//                            leave it in place of a missing db/
//   <data-dir>/db.creating/  a new database being built, renamed over db/ when complete
//
// Open refuses, with an error that says what is wrong and what to do, a path that is not a
// directory, a directory this process cannot write, a directory locked by another process, one
// written by another format version, one missing a piece of the layout (db/ may be missing when
// db.replaced/ is there: the store puts it back), one whose db/ is neither empty (a store not
// created yet) nor a RocksDB database with its CURRENT file (the error tells a half-created
// store, whose creation a crash interrupted in place, from one that lost CURRENT), and a non-empty
// directory without kvd.version. A missing or empty directory is initialized (when
// create_if_missing), and so is one left by an initialization that was interrupted (nothing in
// it but empty wal/, db/, snap/ and the lock file).
//
// The lock is held while the DataDir lives: two kvd processes never use one data directory.
// Thread-safety: a DataDir is immutable once opened.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace kvd::storage {

inline constexpr uint32_t kDataDirFormatVersion = 1;

class DataDir {
 public:
  // NotFound: missing and !create_if_missing. FailedPrecondition: not a directory, locked by
  // another process, another format version, incomplete, or not a kvd data directory.
  // PermissionDenied: not readable and writable by this process.
  static absl::StatusOr<DataDir> Open(const std::string& path, bool create_if_missing);

  DataDir(DataDir&& other) noexcept;
  DataDir& operator=(DataDir&& other) noexcept;
  ~DataDir();  // releases the lock

  const std::string& root() const { return root_; }
  const std::string& wal_dir() const { return wal_dir_; }
  const std::string& db_dir() const { return db_dir_; }
  const std::string& snap_dir() const { return snap_dir_; }

 private:
  DataDir(std::string root, int lock_fd);

  std::string root_;
  std::string wal_dir_;
  std::string db_dir_;
  std::string snap_dir_;
  int lock_fd_ = -1;
};

}  // namespace kvd::storage
