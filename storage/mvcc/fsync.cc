#include "storage/mvcc/fsync.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "storage/mvcc/errors.h"
#include "storage/strings.h"

namespace kvd::mvcc {
namespace {

absl::Status Fsync(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrIo(storage::Cat("open ", path), std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrIo(storage::Cat("fsync ", path), std::strerror(err));
  return absl::OkStatus();
}

}  // namespace

absl::Status SyncFile(const std::string& path) { return Fsync(path, false); }

absl::Status SyncDir(const std::string& path) { return Fsync(path, true); }

std::string ParentDir(const std::string& path) {
  std::filesystem::path p = std::filesystem::absolute(path);
  if (!p.has_filename()) p = p.parent_path();  // "a/b/" names b
  const std::filesystem::path parent = p.parent_path();
  return parent.empty() ? "/" : parent.string();
}

absl::StatusOr<bool> PathExists(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return ErrIo(storage::Cat("stat ", path), std::strerror(errno));
}

}  // namespace kvd::mvcc
