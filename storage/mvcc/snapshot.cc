#include "storage/mvcc/snapshot.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "raft/check.h"
#include "rocksdb/db.h"
#include "rocksdb/utilities/checkpoint.h"
#include "storage/crc32c.h"
#include "storage/mvcc/compactor.h"
#include "storage/mvcc/directory_swap.h"
#include "storage/mvcc/errors.h"
#include "storage/mvcc/fsync.h"
#include "storage/mvcc/rocks_read.h"
#include "storage/mvcc/store_files.h"
#include "storage/strings.h"

namespace kvd::mvcc {

namespace fs = std::filesystem;

namespace {

absl::Status Errno(std::string_view what, const std::string& path) {
  return ErrIo(storage::Cat(what, " ", path), std::strerror(errno));
}

// Size and CRC-32C of a file's contents.
absl::Status Checksum(const std::string& path, uint64_t* size, uint32_t* crc) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open", path);
  std::string buf(1 << 20, '\0');
  uint32_t c = 0;
  uint64_t n = 0;
  while (true) {
    ssize_t got = ::read(fd, buf.data(), buf.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      ::close(fd);
      errno = saved;
      return Errno("read", path);
    }
    if (got == 0) break;
    c = storage::Crc32c(c, std::string_view(buf.data(), static_cast<size_t>(got)));
    n += static_cast<uint64_t>(got);
  }
  ::close(fd);
  *size = n;
  *crc = c;
  return absl::OkStatus();
}

bool PlainName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos && name.find(' ') == std::string_view::npos &&
         name.find('\n') == std::string_view::npos;
}

std::string ManifestText(const SnapshotInfo& info) {
  std::string body = storage::Cat(
      "kvd-mvcc-snapshot ", kSnapshotFormatVersion, "\n", "format ", kFormatValue, "\n",
      "applied_index ", info.applied.index, "\n", "applied_term ", info.applied.term, "\n",
      "revision ", info.revision, "\n", "compact_revision ", info.compact_revision, "\n");
  for (const SnapshotInfo::File& f : info.files) {
    body += storage::Cat("file ", f.name, " ", f.size, " ", storage::Hex8(f.crc32c), "\n");
  }
  body += storage::Cat("end ", storage::Hex8(storage::Crc32c(body)), "\n");
  return body;
}

}  // namespace

absl::StatusOr<SnapshotInfo> ReadSnapshotManifest(const std::string& dir) {
  std::string path = (fs::path(dir) / kSnapshotManifest).string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrBadSnapshot(dir, "no manifest file");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  auto bad = [&](std::string_view why) { return ErrBadSnapshot(dir, why); };

  size_t end_pos = text.rfind("end ");
  if (end_pos == std::string::npos || (end_pos != 0 && text[end_pos - 1] != '\n')) {
    return bad("manifest has no end line");
  }
  std::string body = text.substr(0, end_pos);
  std::string end_line = text.substr(end_pos);
  if (end_line != storage::Cat("end ", storage::Hex8(storage::Crc32c(body)), "\n")) {
    return bad("manifest checksum mismatch");
  }
  SnapshotInfo info;
  std::vector<std::string> lines = absl::StrSplit(body, '\n', absl::SkipEmpty());
  if (lines.size() < 6) return bad("manifest too short");
  if (lines[0] != storage::Cat("kvd-mvcc-snapshot ", kSnapshotFormatVersion)) {
    return bad(storage::Cat("unknown manifest version line \"", lines[0], "\""));
  }
  if (lines[1] != storage::Cat("format ", kFormatValue)) {
    return bad(storage::Cat("store format \"", lines[1], "\" is not ", kFormatValue));
  }
  info.format_version = kFormatVersion;
  auto field = [&](const std::string& line, std::string_view name, auto* out) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    return parts.size() == 2 && parts[0] == name && absl::SimpleAtoi(parts[1], out);
  };
  if (!field(lines[2], "applied_index", &info.applied.index) ||
      !field(lines[3], "applied_term", &info.applied.term) ||
      !field(lines[4], "revision", &info.revision) ||
      !field(lines[5], "compact_revision", &info.compact_revision)) {
    return bad("malformed header fields");
  }
  std::set<std::string> seen;
  for (size_t i = 6; i < lines.size(); ++i) {
    std::vector<std::string> parts = absl::StrSplit(lines[i], ' ');
    SnapshotInfo::File f;
    uint32_t crc = 0;
    if (parts.size() != 4 || parts[0] != "file" || !PlainName(parts[1]) ||
        parts[1] == kSnapshotManifest || !absl::SimpleAtoi(parts[2], &f.size) ||
        parts[3].size() != 8 || !absl::SimpleHexAtoi(parts[3], &crc) ||
        !seen.insert(parts[1]).second) {
      return bad(storage::Cat("malformed file line \"", lines[i], "\""));
    }
    f.name = parts[1];
    f.crc32c = crc;
    info.files.push_back(std::move(f));
  }
  if (info.revision < 1 || info.compact_revision > info.revision) {
    return bad("impossible revisions");
  }
  return info;
}

absl::Status VerifySnapshotFiles(const std::string& dir, const SnapshotInfo& info) {
  std::set<std::string> expected;
  for (const SnapshotInfo::File& f : info.files) expected.insert(f.name);
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name != kSnapshotManifest && expected.count(name) == 0) {
      return ErrBadSnapshot(dir, storage::Cat("unexpected file ", name));
    }
  }
  if (ec) return ErrIo("list " + dir, ec.message());
  for (const SnapshotInfo::File& f : info.files) {
    std::string path = (fs::path(dir) / f.name).string();
    if (!fs::is_regular_file(path, ec)) return ErrBadSnapshot(dir, "missing file " + f.name);
    uint64_t size = 0;
    uint32_t crc = 0;
    if (absl::Status s = Checksum(path, &size, &crc); !s.ok()) return s;
    if (size != f.size) {
      return ErrBadSnapshot(
          dir, storage::Cat("file ", f.name, " has ", size, " bytes, expected ", f.size));
    }
    if (crc != f.crc32c) return ErrBadSnapshot(dir, storage::Cat("file ", f.name, " CRC mismatch"));
  }
  return absl::OkStatus();
}

std::vector<std::string> SnapshotTransferList(const SnapshotInfo& info) {
  std::vector<std::string> names;
  for (const SnapshotInfo::File& f : info.files) names.push_back(f.name);
  names.emplace_back(kSnapshotManifest);
  return names;
}

absl::StatusOr<std::string> ReadSnapshotChunk(const std::string& dir, const std::string& name,
                                              uint64_t offset, size_t max_bytes) {
  if (!PlainName(name)) return absl::InvalidArgumentError("mvcc: bad snapshot file name " + name);
  std::string path = (fs::path(dir) / name).string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open", path);
  std::string out(max_bytes, '\0');
  size_t got = 0;
  while (got < max_bytes) {
    ssize_t n = ::pread(fd, out.data() + got, max_bytes - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      errno = saved;
      return Errno("read", path);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

absl::Status WriteSnapshotChunk(const std::string& dir, const std::string& name, uint64_t offset,
                                std::string_view data) {
  if (!PlainName(name)) return absl::InvalidArgumentError("mvcc: bad snapshot file name " + name);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return ErrIo("create " + dir, ec.message());
  std::string path = (fs::path(dir) / name).string();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != offset) {
    ::close(fd);
    return absl::InvalidArgumentError(storage::Cat("mvcc: snapshot chunk of ", name, " at offset ",
                                                   offset, " does not follow the file's end"));
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      errno = saved;
      return Errno("write", path);
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return Errno("close", path);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------- Store

absl::StatusOr<SnapshotInfo> Store::CreateSnapshot(const std::string& dir) {
  KVD_CHECK(!batch_open_, "CreateSnapshot with an open ApplyBatch");
  std::error_code ec;
  if (fs::exists(dir, ec)) return absl::InvalidArgumentError("mvcc: snapshot dir exists: " + dir);
  rocksdb::FlushOptions fo;
  fo.wait = true;
  if (absl::Status s = FromRocks(db_->Flush(fo), "flush"); !s.ok()) return s;
  rocksdb::Checkpoint* raw = nullptr;
  if (absl::Status s = FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw), "checkpoint");
      !s.ok()) {
    return s;
  }
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  if (absl::Status s = FromRocks(cp->CreateCheckpoint(dir, 0), "checkpoint " + dir); !s.ok()) {
    return s;
  }
  SnapshotInfo info;
  info.format_version = kFormatVersion;
  {
    absl::ReaderMutexLock lock(&index_mu_);
    info.applied = applied_;
    info.revision = current_rev_;
    info.compact_revision = compact_rev_;
  }
  std::vector<std::string> names;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file()) names.push_back(e.path().filename().string());
  }
  if (ec) return ErrIo("list " + dir, ec.message());
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    SnapshotInfo::File f;
    f.name = name;
    std::string path = (fs::path(dir) / name).string();
    if (absl::Status s = Checksum(path, &f.size, &f.crc32c); !s.ok()) return s;
    if (absl::Status s = SyncFile(path); !s.ok()) return s;
    info.files.push_back(std::move(f));
  }
  std::string manifest = (fs::path(dir) / kSnapshotManifest).string();
  std::string tmp = manifest + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << ManifestText(info);
    if (!out.flush()) return ErrIo("write " + tmp, "stream error");
  }
  if (absl::Status s = SyncFile(tmp); !s.ok()) return s;
  if (::rename(tmp.c_str(), manifest.c_str()) != 0) return Errno("rename", tmp);
  if (absl::Status s = SyncDir(dir); !s.ok()) return s;
  return info;
}

absl::Status Store::InstallSnapshot(const std::string& src) {
  KVD_CHECK(!batch_open_, "InstallSnapshot with an open ApplyBatch");
  absl::StatusOr<SnapshotInfo> info = ReadSnapshotManifest(src);
  if (!info.ok()) return info.status();
  if (absl::Status s = VerifySnapshotFiles(src, *info); !s.ok()) return s;
  for (const SnapshotInfo::File& f : info->files) {
    if (absl::Status s = SyncFile((fs::path(src) / f.name).string()); !s.ok()) return s;
  }
  if (absl::Status s = SyncDir(src); !s.ok()) return s;

  absl::WriterMutexLock life(&lifecycle_mu_);
  const AppliedPosition previous = Applied();
  StopCompactor();
  CloseDatabase();
  // dir_ holds the previous state again: reopen it. Not being able to is not an error the
  // caller can handle (the store would have no database): abort, and let the next Open recover.
  auto reopen_previous = [&](absl::Status why) -> absl::Status {
    absl::Status s = OpenDatabase();
    KVD_CHECK(s.ok(), "cannot reopen ", dir_, " after a failed snapshot install (", why.ToString(),
              "): ", s.ToString());
    KVD_CHECK(Applied() == previous, "after a failed snapshot install (", why.ToString(), ") ",
              dir_, " is at applied index ", Applied().index, ", not ", previous.index);
    StartCompactor();
    return why;
  };
  absl::StatusOr<DirectorySwap> swap = DirectorySwap::Begin(dir_, src, SwapOptionsOf(options_));
  if (!swap.ok()) return reopen_previous(swap.status());
  auto undo = [&](absl::Status why) -> absl::Status {
    CloseDatabase();
    absl::Status s = swap->Undo();
    KVD_CHECK(s.ok(), "cannot put the previous state back in ", dir_,
              " after a failed snapshot install (", why.ToString(), "): ", s.ToString(),
              "; opening the store recovers it");
    return reopen_previous(why);
  };
  if (absl::Status s = OpenDatabase(); !s.ok()) return undo(s);
  if (!StateMatches(*info)) {
    return undo(ErrBadSnapshot(src, "database contents disagree with the manifest"));
  }
  // The install is complete once the manifest is gone from dir_, durably: until then a crash
  // leaves Open to check the state against it (FinishInterruptedInstall).
  if (absl::Status s = RemoveManifest(); !s.ok()) return undo(s);
  // The previous state goes. Failing that leaves only garbage: "<dir>.replaced", which the next
  // install or Open removes.
  (void)swap->Commit();
  StartCompactor();
  return absl::OkStatus();
}

bool Store::StateMatches(const SnapshotInfo& info) const {
  absl::ReaderMutexLock lock(&index_mu_);
  return applied_ == info.applied && current_rev_ == info.revision &&
         compact_rev_ == info.compact_revision;
}

absl::Status Store::RemoveManifest() {
  const std::string manifest = (fs::path(dir_) / kSnapshotManifest).string();
  const std::string step = storage::Cat("remove ", manifest);
  if (options_.before_step) {
    if (absl::Status s = options_.before_step(step); !s.ok()) return s;
  }
  if (::unlink(manifest.c_str()) != 0) return Errno("remove", manifest);
  if (options_.before_step) {
    if (absl::Status s = options_.before_step(storage::Cat("fsync ", dir_)); !s.ok()) return s;
  }
  return SyncDir(dir_);
}

absl::Status Store::FinishInterruptedInstall() {
  const std::string manifest = (fs::path(dir_) / kSnapshotManifest).string();
  std::error_code ec;
  const bool pending = fs::exists(manifest, ec);
  if (ec) return ErrIo(storage::Cat("stat ", manifest), ec.message());
  if (!pending) return absl::OkStatus();
  absl::StatusOr<SnapshotInfo> info = ReadSnapshotManifest(dir_);
  if (!info.ok() || !StateMatches(*info)) {
    return ErrCorrupt(storage::Cat(
        dir_, " holds a snapshot install that a crash interrupted, and its database ",
        info.ok() ? "disagrees with the snapshot's manifest"
                  : storage::Cat("has an unreadable manifest (", info.status().message(), ")"),
        "; the member's state machine cannot be trusted: remove the member from the cluster "
        "and add it back, or restore its data from a backup"));
  }
  return RemoveManifest();
}

}  // namespace kvd::mvcc
