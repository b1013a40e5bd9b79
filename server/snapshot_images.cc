#include "server/snapshot_images.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "spdlog/spdlog.h"
#include "storage/mvcc/snapshot.h"

namespace kvd::server {
namespace {

namespace stdfs = std::filesystem;

void PutFixed(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetFixed(const std::string& in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
  return v;
}

absl::Status SyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("opening ", path, ": ", strerror(errno)));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync of ", path, ": ", strerror(err)));
  return absl::OkStatus();
}

// "recv-<index>-<seq>" -> index; nullopt for any other name.
std::optional<uint64_t> ImageIndex(const std::string& name) {
  std::vector<std::string> parts = absl::StrSplit(name, '-');
  uint64_t index = 0, seq = 0;
  if (parts.size() != 3 || parts[0] != "recv" || !absl::SimpleAtoi(parts[1], &index) ||
      !absl::SimpleAtoi(parts[2], &seq)) {
    return std::nullopt;
  }
  return index;
}

class DirImageReader final : public SnapshotImageReader {
 public:
  DirImageReader(std::string dir, std::vector<std::pair<std::string, uint64_t>> files)
      : dir_(std::move(dir)), files_(std::move(files)) {
    for (const auto& [name, size] : files_) total_ += 4 + name.size() + 8 + size;
  }
  ~DirImageReader() override {
    std::error_code ec;
    stdfs::remove_all(dir_, ec);
  }
  uint64_t TotalBytes() const override { return total_; }

  absl::Status Read(size_t max_bytes, std::string* out) override {
    while (out->size() < max_bytes && file_ < files_.size()) {
      const auto& [name, size] = files_[file_];
      if (!header_done_) {
        PutFixed(out, name.size(), 4);
        out->append(name);
        PutFixed(out, size, 8);
        header_done_ = true;
      }
      if (offset_ < size) {
        const size_t want = std::min<uint64_t>(max_bytes - out->size(), size - offset_);
        absl::StatusOr<std::string> chunk = mvcc::ReadSnapshotChunk(dir_, name, offset_, want);
        if (!chunk.ok()) return chunk.status();
        if (chunk->empty()) {
          return absl::DataLossError(absl::StrCat(name, " in ", dir_, " is shorter than listed"));
        }
        offset_ += chunk->size();
        out->append(*chunk);
      }
      if (offset_ >= size) {
        ++file_;
        offset_ = 0;
        header_done_ = false;
      }
    }
    return absl::OkStatus();
  }

 private:
  const std::string dir_;
  const std::vector<std::pair<std::string, uint64_t>> files_;
  uint64_t total_ = 0;
  size_t file_ = 0;
  uint64_t offset_ = 0;
  bool header_done_ = false;
};

class DirImageWriter final : public SnapshotImageWriter {
 public:
  DirImageWriter(std::string tmp_dir, std::string final_dir)
      : tmp_dir_(std::move(tmp_dir)), final_dir_(std::move(final_dir)) {}
  ~DirImageWriter() override {
    if (!committed_) {
      std::error_code ec;
      stdfs::remove_all(tmp_dir_, ec);
    }
  }

  absl::Status Append(const std::string& bytes) override {
    buffer_.append(bytes);
    size_t at = 0;
    while (true) {
      if (!in_file_) {
        if (buffer_.size() - at < 4) break;
        const uint64_t name_len = GetFixed(buffer_, at, 4);
        if (name_len == 0 || name_len > 255) return Malformed("a bad file name length");
        if (buffer_.size() - at < 4 + name_len + 8) break;
        name_ = buffer_.substr(at + 4, name_len);
        if (name_.find('/') != std::string::npos || name_ == "." || name_ == "..") {
          return Malformed("a file name with a path in it");
        }
        remaining_ = GetFixed(buffer_, at + 4 + name_len, 8);
        written_ = 0;
        at += 4 + name_len + 8;
        in_file_ = true;
        if (remaining_ == 0) {
          if (absl::Status st = mvcc::WriteSnapshotChunk(tmp_dir_, name_, 0, ""); !st.ok()) {
            return st;
          }
          in_file_ = false;
        }
        continue;
      }
      const size_t n = std::min<uint64_t>(remaining_, buffer_.size() - at);
      if (n == 0) break;
      if (absl::Status st = mvcc::WriteSnapshotChunk(tmp_dir_, name_, written_,
                                                     std::string_view(buffer_).substr(at, n));
          !st.ok()) {
        return st;
      }
      written_ += n;
      remaining_ -= n;
      at += n;
      if (remaining_ == 0) in_file_ = false;
    }
    buffer_.erase(0, at);
    return absl::OkStatus();
  }

  absl::Status Commit() override {
    if (in_file_ || !buffer_.empty()) return Malformed("a truncated last file");
    absl::StatusOr<mvcc::SnapshotInfo> info = mvcc::ReadSnapshotManifest(tmp_dir_);
    if (!info.ok()) return info.status();
    if (absl::Status st = mvcc::VerifySnapshotFiles(tmp_dir_, *info); !st.ok()) return st;
    // Durable before Raft hears of it: the WAL records the snapshot before the store installs it.
    std::error_code ec;
    for (const auto& entry : stdfs::directory_iterator(tmp_dir_, ec)) {
      if (absl::Status st = SyncPath(entry.path().string()); !st.ok()) return st;
    }
    if (absl::Status st = SyncPath(tmp_dir_); !st.ok()) return st;
    stdfs::rename(tmp_dir_, final_dir_, ec);
    if (ec) return absl::InternalError(absl::StrCat("renaming ", tmp_dir_, ": ", ec.message()));
    if (absl::Status st = SyncPath(stdfs::path(final_dir_).parent_path().string()); !st.ok()) {
      return st;
    }
    committed_ = true;
    return absl::OkStatus();
  }

 private:
  absl::Status Malformed(const std::string& what) {
    return absl::DataLossError(absl::StrCat("snapshot image has ", what));
  }

  const std::string tmp_dir_;
  const std::string final_dir_;
  std::string buffer_;
  bool in_file_ = false;
  std::string name_;
  uint64_t remaining_ = 0;
  uint64_t written_ = 0;
  bool committed_ = false;
};

}  // namespace

StoreSnapshotImages::StoreSnapshotImages(std::string snap_dir, mvcc::Store* store, Applier* applier)
    : snap_dir_(std::move(snap_dir)), store_(store), applier_(applier) {
  std::error_code ec;
  uint64_t max_seq = 0;
  for (const auto& entry : stdfs::directory_iterator(snap_dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (ImageIndex(name).has_value()) {
      uint64_t seq = 0;
      if (absl::SimpleAtoi(name.substr(name.rfind('-') + 1), &seq)) {
        max_seq = std::max(max_seq, seq + 1);
      }
      continue;
    }
    stdfs::remove_all(entry.path(), ec);
  }
  seq_ = max_seq;
}

std::optional<std::string> StoreSnapshotImages::FindImage(const std::string& snap_dir,
                                                          uint64_t index) {
  std::optional<std::string> newest;
  uint64_t newest_seq = 0;
  std::error_code ec;
  for (const auto& entry : stdfs::directory_iterator(snap_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (ImageIndex(name) != index) continue;
    uint64_t seq = 0;
    absl::SimpleAtoi(name.substr(name.rfind('-') + 1), &seq);
    if (!newest || seq >= newest_seq) {
      newest = entry.path().string();
      newest_seq = seq;
    }
  }
  return newest;
}

void StoreSnapshotImages::RemoveImagesUpTo(const std::string& snap_dir, uint64_t index) {
  std::error_code ec;
  for (const auto& entry : stdfs::directory_iterator(snap_dir, ec)) {
    std::optional<uint64_t> at = ImageIndex(entry.path().filename().string());
    if (at && *at <= index) stdfs::remove_all(entry.path(), ec);
  }
}

std::string StoreSnapshotImages::NextDir(const std::string& prefix) {
  return absl::StrCat(snap_dir_, "/", prefix, seq_.fetch_add(1));
}

absl::StatusOr<std::unique_ptr<SnapshotImageReader>> StoreSnapshotImages::OpenForSend(
    const raft::Snapshot& snapshot) {
  const std::string dir = NextDir("send-");
  absl::StatusOr<mvcc::SnapshotInfo> info;
  absl::Status st = applier_->RunOnApplyThread([&]() -> absl::Status {
    info = store_->CreateSnapshot(dir);
    return info.status();
  });
  if (!st.ok()) return st;
  if (info->applied.index < snapshot.metadata.index) {
    return absl::FailedPreconditionError(absl::StrCat("the store is at index ", info->applied.index,
                                                      ", below the snapshot's ",
                                                      snapshot.metadata.index));
  }
  std::vector<std::pair<std::string, uint64_t>> files;
  for (const std::string& name : mvcc::SnapshotTransferList(*info)) {
    std::error_code ec;
    const uint64_t size = stdfs::file_size(absl::StrCat(dir, "/", name), ec);
    if (ec) return absl::InternalError(absl::StrCat("sizing ", name, ": ", ec.message()));
    files.emplace_back(name, size);
  }
  return std::make_unique<DirImageReader>(dir, std::move(files));
}

absl::StatusOr<std::unique_ptr<SnapshotImageWriter>> StoreSnapshotImages::BeginReceive(
    const raft::Snapshot& snapshot) {
  // Every transfer has directories of its own: two transfers of one snapshot never collide.
  const uint64_t seq = seq_.fetch_add(1);
  return std::make_unique<DirImageWriter>(
      absl::StrCat(snap_dir_, "/recv-", seq, ".tmp"),
      absl::StrCat(snap_dir_, "/recv-", snapshot.metadata.index, "-", seq));
}

absl::Status StoreSnapshotImages::Install(const raft::Snapshot& snapshot) {
  const uint64_t index = snapshot.metadata.index;
  return applier_->RunOnApplyThread([&]() -> absl::Status {
    const uint64_t applied = store_->Applied().index;
    std::optional<std::string> dir = FindImage(snap_dir_, index);
    if (!dir) {
      if (applied >= index) return absl::OkStatus();  // the store already covers it
      return absl::FailedPreconditionError(
          absl::StrCat("no image was received for the snapshot at index ", index));
    }
    absl::StatusOr<mvcc::SnapshotInfo> info = mvcc::ReadSnapshotManifest(*dir);
    if (!info.ok()) return info.status();
    if (info->applied.index < index) {
      return absl::FailedPreconditionError(
          absl::StrCat("the image received for the snapshot at index ", index,
                       " only reaches index ", info->applied.index));
    }
    if (info->applied.index > applied) {
      spdlog::info("installing the store image of applied index {} (revision {})",
                   info->applied.index, info->revision);
      if (absl::Status st = store_->InstallSnapshot(*dir); !st.ok()) return st;
      applier_->ResetFromStore();
    }
    // Otherwise the store is already at or past the image (it applied further since).
    RemoveImagesUpTo(snap_dir_, index);
    return absl::OkStatus();
  });
}

}  // namespace kvd::server
