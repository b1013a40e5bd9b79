#include "storage/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "storage/fs/posix_file_system.h"

namespace kvd::storage {
namespace {

constexpr char kVersionFile[] = "kvd.version";
constexpr char kLockFile[] = "kvd.lock";
constexpr char kVersionPrefix[] = "kvd-data-dir-format: ";
constexpr const char* kParts[] = {"wal", "db", "snap"};
// Where a snapshot install parks db/ (ReplacedPath in storage/mvcc/directory_swap.h): a crash
// can leave it there with no db/, and the store's own open moves it back, so its presence
// stands for db/.
constexpr char kParkedDb[] = "db.replaced";

std::string Errno(int err) { return std::strerror(err); }

// db/ holds a RocksDB database only once RocksDB has written its CURRENT file, the last step of
// creating one. An empty db/ is a store not created yet. Anything else is refused: files without
// CURRENT, but also without a table (*.sst) or a non-empty log (*.log), are the beginnings of a
// database whose creation a crash cut short in place (which this kvd no longer does: it builds
// the database in db.creating/), holding no data; with table or log files, CURRENT was lost.
absl::Status CheckDatabase(fs::FileSystem& fs, const std::string& root, const std::string& db) {
  absl::StatusOr<std::vector<std::string>> names = fs.ListDir(db);
  if (!names.ok()) return names.status();
  if (names->empty()) return absl::OkStatus();
  if (std::find(names->begin(), names->end(), "CURRENT") != names->end()) return absl::OkStatus();
  std::vector<std::string> data;
  for (const std::string& name : *names) {
    struct stat st;
    const bool log = absl::EndsWith(name, ".log");
    if (absl::EndsWith(name, ".sst") ||
        (log && ::stat(fs::JoinPath(db, name).c_str(), &st) == 0 && st.st_size > 0)) {
      data.push_back(name);
    }
  }
  std::vector<std::string> shown = *names;
  std::sort(shown.begin(), shown.end());
  if (shown.size() > 6) {
    shown.resize(6);
    shown.push_back("...");
  }
  if (data.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", root, " holds a half-created store: ", db, " has files (",
        absl::StrJoin(shown, ", "),
        ") but no CURRENT and no table or log data, so the creation of its RocksDB database was "
        "interrupted before it held anything; empty ",
        db, " and start kvd again"));
  }
  std::sort(data.begin(), data.end());
  return absl::FailedPreconditionError(absl::StrCat(
      "data directory ", root, " is damaged: ", db, " holds RocksDB data (",
      absl::StrJoin(
          data.size() > 6 ? std::vector<std::string>(data.begin(), data.begin() + 6) : data, ", "),
      data.size() > 6 ? ", ..." : "",
      ") but no CURRENT file, so the database cannot be opened; restore the member's data from a "
      "backup, or remove the member from the cluster, delete the directory and add the member "
      "back"));
}

std::string WhatToDoAboutPermissions() {
  return absl::StrCat("give this user (uid ", ::geteuid(),
                      ") read and write access to it, or choose another --data-dir");
}

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsEmptyDir(fs::FileSystem& fs, const std::string& path) {
  if (!IsDir(path)) return false;
  absl::StatusOr<std::vector<std::string>> names = fs.ListDir(path);
  return names.ok() && names->empty();
}

// Whether every entry of a directory without kvd.version is one an initialization creates
// before it writes kvd.version: then the directory is new, or its initialization was cut short.
absl::Status CheckNothingButAnInterruptedInit(fs::FileSystem& fs, const std::string& root,
                                              const std::vector<std::string>& names) {
  std::vector<std::string> foreign;
  for (const std::string& name : names) {
    if (name == kLockFile || name == absl::StrCat(kVersionFile, ".tmp")) continue;
    const bool part = std::find(std::begin(kParts), std::end(kParts), name) != std::end(kParts);
    if (part && IsEmptyDir(fs, fs::JoinPath(root, name))) continue;
    foreign.push_back(name);
  }
  if (foreign.empty()) return absl::OkStatus();
  std::sort(foreign.begin(), foreign.end());
  const bool looks_like_kvd = std::find(foreign.begin(), foreign.end(), "wal") != foreign.end() ||
                              std::find(foreign.begin(), foreign.end(), "db") != foreign.end();
  return absl::FailedPreconditionError(absl::StrCat(
      "data directory ", root, " is not empty (it holds ", absl::StrJoin(foreign, ", "),
      ") but has no ", kVersionFile, ": ",
      looks_like_kvd
          ? "it looks like a kvd data directory whose version file was lost, and kvd will not "
            "guess its format; restore the member's data from a backup, or remove the member, "
            "delete the directory and add the member back"
          : "it is not a kvd data directory; point --data-dir at a new or empty directory"));
}

// Creates path and any missing parents, each new directory made durable in its parent.
absl::Status CreateDirs(const std::string& path) {
  std::vector<std::string> missing;
  for (std::string p = path; !p.empty() && p != "/" && p != "."; p = fs::DirName(p)) {
    struct stat st;
    if (::stat(p.c_str(), &st) == 0) break;
    missing.push_back(p);
  }
  fs::PosixFileSystem fs;
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST) {
      const int err = errno;
      if (err == EACCES || err == EPERM || err == EROFS) {
        return absl::PermissionDeniedError(absl::StrCat("cannot create data directory ", path,
                                                        ": mkdir ", *it, ": ", Errno(err), "; ",
                                                        WhatToDoAboutPermissions()));
      }
      return fs::PosixError(err, "mkdir", *it);
    }
    if (absl::Status s = fs.SyncDir(fs::DirName(*it)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> ReadVersion(fs::FileSystem& fs, const std::string& root) {
  const std::string path = fs::JoinPath(root, kVersionFile);
  absl::StatusOr<std::string> text = fs.ReadFile(path);
  if (!text.ok()) {
    if (absl::IsPermissionDenied(text.status())) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot read ", path, ": ", text.status().message(), "; ", WhatToDoAboutPermissions()));
    }
    return text.status();
  }
  absl::string_view v = *text;
  uint32_t version = 0;
  if (!absl::ConsumePrefix(&v, kVersionPrefix) || !absl::ConsumeSuffix(&v, "\n") ||
      !absl::SimpleAtoi(v, &version)) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " is damaged: it should read \"", kVersionPrefix, "<number>\", it reads \"",
        absl::CEscape(text->substr(0, 64)), "\"; restore it from a backup"));
  }
  return version;
}

// Takes the exclusive lock on root/kvd.lock and writes this process's pid into it.
absl::StatusOr<int> Lock(const std::string& root) {
  const std::string path = fs::JoinPath(root, kLockFile);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM || err == EROFS) {
      return absl::PermissionDeniedError(
          absl::StrCat("data directory ", root, " is not writable: cannot open ", path, ": ",
                       Errno(err), "; ", WhatToDoAboutPermissions()));
    }
    return fs::PosixError(err, "open", path);
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = {};
    const ssize_t n = ::pread(fd, pid, sizeof(pid) - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) return fs::PosixError(err, "flock", path);
    const std::string holder =
        n > 0 ? absl::StrCat("pid ", absl::StripAsciiWhitespace(absl::string_view(pid, n)))
              : std::string("another process");
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", root, " is in use: ", holder, " holds the lock on ", path,
        ". Two kvd processes cannot share a data directory; stop the other one or give this "
        "one its own --data-dir"));
  }
  const std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    const int err = errno;
    ::close(fd);
    return fs::PosixError(err, "write", path);
  }
  return fd;
}

}  // namespace

DataDir::DataDir(std::string root, int lock_fd)
    : root_(std::move(root)),
      wal_dir_(fs::JoinPath(root_, "wal")),
      db_dir_(fs::JoinPath(root_, "db")),
      snap_dir_(fs::JoinPath(root_, "snap")),
      lock_fd_(lock_fd) {}

DataDir::DataDir(DataDir&& other) noexcept
    : root_(std::move(other.root_)),
      wal_dir_(std::move(other.wal_dir_)),
      db_dir_(std::move(other.db_dir_)),
      snap_dir_(std::move(other.snap_dir_)),
      lock_fd_(std::exchange(other.lock_fd_, -1)) {}

DataDir& DataDir::operator=(DataDir&& other) noexcept {
  if (this != &other) {
    if (lock_fd_ >= 0) ::close(lock_fd_);
    root_ = std::move(other.root_);
    wal_dir_ = std::move(other.wal_dir_);
    db_dir_ = std::move(other.db_dir_);
    snap_dir_ = std::move(other.snap_dir_);
    lock_fd_ = std::exchange(other.lock_fd_, -1);
  }
  return *this;
}

DataDir::~DataDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // closing the last descriptor releases the flock
}

absl::StatusOr<DataDir> DataDir::Open(const std::string& path, bool create_if_missing) {
  std::string root = path;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (root.empty()) return absl::InvalidArgumentError("data directory path is empty");

  struct stat st;
  if (::stat(root.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      if (!create_if_missing) {
        return absl::NotFoundError(absl::StrCat("data directory ", root, " does not exist"));
      }
      if (absl::Status s = CreateDirs(root); !s.ok()) return s;
    } else if (err == ENOTDIR) {
      return absl::FailedPreconditionError(
          absl::StrCat("data directory ", root, ": a component of the path is not a directory"));
    } else if (err == EACCES) {
      return absl::PermissionDeniedError(absl::StrCat("cannot reach data directory ", root, ": ",
                                                      Errno(err), "; ",
                                                      WhatToDoAboutPermissions()));
    } else {
      return fs::PosixError(err, "stat", root);
    }
  } else if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", root, " exists but is not a directory; --data-dir must name one"));
  }
  if (::access(root.c_str(), R_OK | W_OK | X_OK) != 0) {
    const int err = errno;
    if (err == EROFS) {
      return absl::FailedPreconditionError(
          absl::StrCat("data directory ", root, " is on a read-only file system"));
    }
    return absl::PermissionDeniedError(
        absl::StrCat("data directory ", root, " is not writable by this process: ", Errno(err),
                     "; ", WhatToDoAboutPermissions()));
  }

  fs::PosixFileSystem fs;
  auto list = [&]() -> absl::StatusOr<std::vector<std::string>> { return fs.ListDir(root); };
  absl::StatusOr<std::vector<std::string>> names = list();
  if (!names.ok()) return names.status();
  auto has = [&](const std::string& name) {
    return std::find(names->begin(), names->end(), name) != names->end();
  };
  // Refuse a foreign directory before leaving a lock file in it.
  if (!has(kVersionFile)) {
    if (absl::Status s = CheckNothingButAnInterruptedInit(fs, root, *names); !s.ok()) return s;
  }

  absl::StatusOr<int> lock_fd = Lock(root);
  if (!lock_fd.ok()) return lock_fd.status();
  DataDir dir(root, *lock_fd);  // releases the lock on every early return below

  names = list();  // again, now that no other kvd can change it
  if (!names.ok()) return names.status();
  if (has(kVersionFile)) {
    absl::StatusOr<uint32_t> version = ReadVersion(fs, root);
    if (!version.ok()) return version.status();
    if (*version != kDataDirFormatVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("data directory ", root, " was written by format version ", *version,
                       "; this kvd reads version ", kDataDirFormatVersion,
                       ". Run a kvd release that reads version ", *version, " on it"));
    }
    std::vector<std::string> present, missing;
    for (const char* part : kParts) {
      const std::string p = fs::JoinPath(root, part);
      if (!has(part) && std::string_view(part) == "db" && has(kParkedDb) &&
          IsDir(fs::JoinPath(root, kParkedDb))) {
        present.push_back(absl::StrCat(kParkedDb, "/"));
        continue;
      }
      if (!has(part)) {
        missing.push_back(absl::StrCat(part, "/"));
        continue;
      }
      if (!IsDir(p)) {
        return absl::FailedPreconditionError(
            absl::StrCat("data directory ", root, " is damaged: ", p, " is not a directory"));
      }
      if (::access(p.c_str(), R_OK | W_OK | X_OK) != 0) {
        return absl::PermissionDeniedError(
            absl::StrCat(p, " is not writable by this process: ", Errno(errno), "; ",
                         WhatToDoAboutPermissions()));
      }
      if (std::string_view(part) == "db") {
        if (absl::Status s = CheckDatabase(fs, root, p); !s.ok()) return s;
      }
      present.push_back(absl::StrCat(part, "/"));
    }
    if (!missing.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data directory ", root, " is incomplete: ", absl::StrJoin(missing, " and "),
          missing.size() == 1 ? " is" : " are", " missing",
          present.empty() ? "" : absl::StrCat(" (", absl::StrJoin(present, ", "), " present)"),
          ". The member's data is damaged; restore it from a backup, or remove the member from "
          "the cluster, delete the directory and add the member back"));
    }
    return dir;
  }

  if (absl::Status s = CheckNothingButAnInterruptedInit(fs, root, *names); !s.ok()) return s;
  if (!create_if_missing) {
    return absl::NotFoundError(absl::StrCat(
        "data directory ", root, " is not initialized (it holds no ", kVersionFile, ")"));
  }
  for (const char* part : kParts) {
    if (absl::Status s = fs.CreateDir(fs::JoinPath(root, part)); !s.ok()) return s;
  }
  // kvd.version goes last, and its rename is made durable together with the new directories
  // (one fsync of root): from then on the layout is complete.
  if (absl::Status s =
          fs::WriteFileAtomically(fs, root, std::string(kVersionFile),
                                  absl::StrCat(kVersionPrefix, kDataDirFormatVersion, "\n"));
      !s.ok()) {
    return s;
  }
  return dir;
}

}  // namespace kvd::storage
