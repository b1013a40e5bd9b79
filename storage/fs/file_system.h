// FileSystem: the seam through which the WAL touches the disk.
//
// Two implementations: PosixFileSystem (storage/fs/posix_file_system.h), the real one, and
// FaultInjectingFileSystem (storage/fs/fault_injecting_file_system.h), an in-memory model of
// POSIX durability rules for tests, which can fail chosen operations and simulate a power loss.
//
// Durability, as POSIX promises it and as both implementations assume:
//  - Bytes written to a file are durable only after a successful WritableFile::Sync() of that
//    file (fdatasync: data and the size needed to read it back).
//  - A directory entry (a create, a rename, a remove) is durable only after a successful
//    SyncDir() of the directory that holds it. Syncing a file does not make its name durable.
//  - After a failed Sync() nothing written since the previous successful Sync() may be assumed
//    durable, not even after a later Sync() succeeds: Linux marks the pages it failed to write
//    clean (the "fsyncgate" lesson). Callers treat a failed Sync() as fatal.
//  - Those pages may stay in the page cache, so reads, by any process and after a restart of
//    the one that wrote them, may return data that is not on disk and never will be, and an
//    fdatasync on a new descriptor returns 0 (the error was reported already). A reader that
//    must only trust what is on disk (recovery) calls EvictCachedPages before reading.
//
// Paths are plain strings; a file's directory is the part of its path before the last '/'.
// Errors carry the path and the OS error text. Thread-safety: a FileSystem may be used from
// several threads at once; one WritableFile is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kvd::fs {

// An open file that is written at explicit offsets. The WAL writes into preallocated segments,
// so "append" is the caller's notion: it keeps its own write offset.
class WritableFile {
 public:
  virtual ~WritableFile() = default;  // closes the file; does not sync

  // Writes all of data at offset (growing the file if needed). Not durable until Sync().
  virtual absl::Status WriteAt(uint64_t offset, std::string_view data) = 0;
  // fdatasync: makes every write, truncate and preallocation of this file so far durable.
  virtual absl::Status Sync() = 0;
  // Sets the file's size; bytes past it are discarded, new bytes read as zero.
  virtual absl::Status Truncate(uint64_t size) = 0;
  // Reserves disk space so the file is at least size bytes long; new bytes read as zero.
  // fallocate(2), falling back to writing zeros where the file system lacks it.
  virtual absl::Status Preallocate(uint64_t size) = 0;
};

enum class OpenMode : uint8_t {
  kCreateNew,     // the file must not exist (AlreadyExists otherwise)
  kOpenExisting,  // the file must exist (NotFound otherwise)
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual absl::StatusOr<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path,
                                                                     OpenMode mode) = 0;
  // The whole content of a file.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // fdatasync of the file, then drops all its pages from the page cache (posix_fadvise
  // POSIX_FADV_DONTNEED), so that the next ReadFile returns what the disk holds rather than
  // pages a failed fdatasync left behind. Changes nothing a read of the disk would see. An error
  // (the fdatasync failed) means the file's content cannot be trusted.
  virtual absl::Status EvictCachedPages(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, without "." and "..", in no given order.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // Creates a directory; OK if it already exists as a directory.
  virtual absl::Status CreateDir(const std::string& path) = 0;
  // Atomically replaces `to` with `from` (both in the same directory).
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  virtual absl::Status Remove(const std::string& path) = 0;
  // fsync of a directory: makes creates, renames and removes in it durable.
  virtual absl::Status SyncDir(const std::string& dir) = 0;
};

// "dir/name", for the paths this module builds.
std::string JoinPath(std::string_view dir, std::string_view name);

// The directory part of a path ("." when there is no '/').
std::string DirName(std::string_view path);

// Writes a small file so that after a crash it holds either its old content or the new one:
// write dir/name.tmp, sync it, rename it over dir/name, sync dir.
absl::Status WriteFileAtomically(FileSystem& fs, const std::string& dir, const std::string& name,
                                 std::string_view contents);

}  // namespace kvd::fs
