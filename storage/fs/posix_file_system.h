// PosixFileSystem: the FileSystem seam over the real POSIX calls (open, pwrite, fdatasync,
// ftruncate, fallocate, posix_fadvise, rename, unlink, fsync of a directory). See
// storage/fs/file_system.h.
#pragma once

#include "storage/fs/file_system.h"

namespace kvd::fs {

class PosixFileSystem final : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path,
                                                             OpenMode mode) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::Status EvictCachedPages(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override;
  absl::Status CreateDir(const std::string& path) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status SyncDir(const std::string& dir) override;
};

// An error for a failed system call: the call, the path and strerror(errno), with the absl code
// that matches errno (NotFound for ENOENT, PermissionDenied for EACCES, ...).
absl::Status PosixError(int error_number, std::string_view call, std::string_view path);

}  // namespace kvd::fs
