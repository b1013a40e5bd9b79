#include "storage/fs/posix_file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/strings.h"

namespace kvd::fs {

absl::Status PosixError(int error_number, std::string_view call, std::string_view path) {
  return absl::ErrnoToStatus(error_number, storage::Cat(call, " ", path));
}

namespace {

// Closes fd on scope exit unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override { ::close(fd_); }

  absl::Status WriteAt(uint64_t offset, std::string_view data) override {
    while (!data.empty()) {
      const ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return PosixError(errno, "pwrite", path_);
      }
      data.remove_prefix(static_cast<size_t>(n));
      offset += static_cast<uint64_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (::fdatasync(fd_) != 0) return PosixError(errno, "fdatasync", path_);
    return absl::OkStatus();
  }

  absl::Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return PosixError(errno, "ftruncate", path_);
    }
    return absl::OkStatus();
  }

  absl::Status Preallocate(uint64_t size) override {
    if (::fallocate(fd_, 0, 0, static_cast<off_t>(size)) == 0) return absl::OkStatus();
    if (errno != EOPNOTSUPP && errno != ENOSYS) return PosixError(errno, "fallocate", path_);
    // No fallocate here (e.g. some network or FUSE file systems): write the zeros instead.
    struct stat st;
    if (::fstat(fd_, &st) != 0) return PosixError(errno, "fstat", path_);
    static const std::string kZeros(1 << 20, '\0');
    for (uint64_t off = static_cast<uint64_t>(st.st_size); off < size;) {
      const uint64_t n = std::min<uint64_t>(kZeros.size(), size - off);
      if (absl::Status s = WriteAt(off, std::string_view(kZeros.data(), n)); !s.ok()) return s;
      off += n;
    }
    return absl::OkStatus();
  }

 private:
  const int fd_;
  const std::string path_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<WritableFile>> PosixFileSystem::OpenWritable(const std::string& path,
                                                                            OpenMode mode) {
  const int flags = O_WRONLY | O_CLOEXEC | (mode == OpenMode::kCreateNew ? (O_CREAT | O_EXCL) : 0);
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return PosixError(errno, "open", path);
  return std::make_unique<PosixWritableFile>(fd, path);
}

absl::StatusOr<std::string> PosixFileSystem::ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError(errno, "open", path);
  FdCloser closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return PosixError(errno, "fstat", path);
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (true) {
    if (got == out.size()) out.resize(out.size() + 4096);  // the file grew; keep reading
    const ssize_t n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError(errno, "pread", path);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

absl::Status PosixFileSystem::EvictCachedPages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError(errno, "open", path);
  FdCloser closer(fd);
  // Dirty pages are written first (fadvise skips them), so that only clean pages remain, and
  // those go: the ones a failed fdatasync left are clean too, but not on disk.
  if (::fdatasync(fd) != 0) return PosixError(errno, "fdatasync", path);
  if (const int err = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); err != 0) {
    return PosixError(err, "posix_fadvise(POSIX_FADV_DONTNEED)", path);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> PosixFileSystem::ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return PosixError(errno, "opendir", dir);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return PosixError(err, "readdir", dir);
  return names;
}

absl::Status PosixFileSystem::CreateDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) return absl::OkStatus();
  const int err = errno;
  struct stat st;
  if (err == EEXIST && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return absl::OkStatus();
  }
  return PosixError(err, "mkdir", path);
}

absl::Status PosixFileSystem::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return PosixError(errno, "rename", absl::StrCat(from, " -> ", to));
  }
  return absl::OkStatus();
}

absl::Status PosixFileSystem::Remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return PosixError(errno, "unlink", path);
  return absl::OkStatus();
}

absl::Status PosixFileSystem::SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return PosixError(errno, "open", dir);
  FdCloser closer(fd);
  if (::fsync(fd) != 0) return PosixError(errno, "fsync", dir);
  return absl::OkStatus();
}

}  // namespace kvd::fs
