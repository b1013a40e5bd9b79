#include "storage/fs/fault_injecting_file_system.h"

#include <algorithm>
#include <cerrno>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/strings.h"

namespace kvd::fs {
namespace {

constexpr uint64_t kSectorBytes = 512;

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::Status Eio(std::string_view what) {
  return absl::ErrnoToStatus(EIO, storage::Cat(what, " (injected fault)"));
}

}  // namespace

struct FaultInjectingFileSystem::Inode {
  enum class ChangeKind : uint8_t { kWrite, kTruncate, kGrow };
  struct Change {
    ChangeKind kind;
    uint64_t offset = 0;  // kWrite
    std::string data;     // kWrite
    uint64_t size = 0;    // kTruncate, kGrow
  };

  std::string live;
  std::string durable;
  std::vector<Change> pending;

  static void Apply(const Change& c, std::string& content) {
    switch (c.kind) {
      case ChangeKind::kWrite:
        if (content.size() < c.offset + c.data.size()) content.resize(c.offset + c.data.size());
        content.replace(c.offset, c.data.size(), c.data);
        break;
      case ChangeKind::kTruncate:
        content.resize(c.size);
        break;
      case ChangeKind::kGrow:
        if (content.size() < c.size) content.resize(c.size);
        break;
    }
  }
};

struct FaultInjectingFileSystem::Directory {
  enum class OpKind : uint8_t { kLink, kUnlink, kRename };
  struct Op {
    OpKind kind;
    std::string name;  // kLink, kUnlink: the name; kRename: the source
    std::string to;    // kRename
    std::shared_ptr<Inode> inode;
  };
  using Names = std::map<std::string, std::shared_ptr<Inode>>;

  Names live;
  Names durable;
  std::vector<Op> pending;

  // Applies op to names if it still makes sense there (its source is present); returns whether
  // it did.
  static bool Apply(const Op& op, Names& names) {
    switch (op.kind) {
      case OpKind::kLink:
        names[op.name] = op.inode;
        return true;
      case OpKind::kUnlink: {
        auto it = names.find(op.name);
        if (it == names.end() || it->second != op.inode) return false;
        names.erase(it);
        return true;
      }
      case OpKind::kRename: {
        auto it = names.find(op.name);
        if (it == names.end() || it->second != op.inode) return false;
        names.erase(it);
        names[op.to] = op.inode;
        return true;
      }
    }
    return false;
  }
};

class FaultInjectingFileSystem::File final : public WritableFile {
 public:
  File(FaultInjectingFileSystem* fs, std::shared_ptr<Inode> inode, std::string path,
       uint64_t generation)
      : fs_(fs), inode_(std::move(inode)), path_(std::move(path)), generation_(generation) {}

  absl::Status WriteAt(uint64_t offset, std::string_view data) override {
    return fs_->FileWriteAt(*inode_, generation_, path_, offset, data);
  }
  absl::Status Sync() override { return fs_->FileSync(*inode_, generation_, path_); }
  absl::Status Truncate(uint64_t size) override {
    return fs_->FileResize(*inode_, generation_, path_, FsOp::kTruncate, size);
  }
  absl::Status Preallocate(uint64_t size) override {
    return fs_->FileResize(*inode_, generation_, path_, FsOp::kPreallocate, size);
  }

 private:
  FaultInjectingFileSystem* const fs_;
  const std::shared_ptr<Inode> inode_;
  const std::string path_;
  const uint64_t generation_;
};

FaultInjectingFileSystem::FaultInjectingFileSystem(uint64_t seed) : rng_(seed) {}
FaultInjectingFileSystem::~FaultInjectingFileSystem() = default;

void FaultInjectingFileSystem::FailNth(FsOp op, uint64_t n) {
  std::lock_guard lock(mu_);
  const auto i = static_cast<size_t>(op);
  fail_at_[i] = n == 0 ? 0 : op_counts_[i] + n;
}

void FaultInjectingFileSystem::StopAtNthMutation(uint64_t n) {
  std::lock_guard lock(mu_);
  stop_at_mutation_ = n == 0 ? 0 : mutations_ + n;
}

bool FaultInjectingFileSystem::stopped() const {
  std::lock_guard lock(mu_);
  return stopped_;
}

uint64_t FaultInjectingFileSystem::mutation_count() const {
  std::lock_guard lock(mu_);
  return mutations_;
}

uint64_t FaultInjectingFileSystem::op_count(FsOp op) const {
  std::lock_guard lock(mu_);
  return op_counts_[static_cast<size_t>(op)];
}

void FaultInjectingFileSystem::SimulateCrash(CrashMode mode, uint64_t seed) {
  std::lock_guard lock(mu_);
  std::mt19937_64 coin_rng(seed);
  auto coin = [&] { return mode == CrashMode::kKeepRandomUnsynced && (coin_rng() & 1) != 0; };

  std::set<Inode*> survivors;
  for (auto& [path, dir] : dirs_) {
    Directory::Names names = dir->durable;
    for (const Directory::Op& op : dir->pending) {
      if (coin()) Directory::Apply(op, names);
    }
    dir->durable = names;
    dir->live = std::move(names);
    dir->pending.clear();
    for (auto& [name, inode] : dir->live) survivors.insert(inode.get());
  }
  for (Inode* inode : survivors) {
    std::string content = inode->durable;
    for (const Inode::Change& c : inode->pending) {
      if (c.kind != Inode::ChangeKind::kWrite) {
        if (coin()) Inode::Apply(c, content);
        continue;
      }
      // Each sector of a pending write reaches the disk or not, independently.
      uint64_t off = c.offset;
      const uint64_t end = c.offset + c.data.size();
      while (off < end) {
        const uint64_t next = std::min(end, (off / kSectorBytes + 1) * kSectorBytes);
        if (coin()) {
          Inode::Apply({Inode::ChangeKind::kWrite, off, c.data.substr(off - c.offset, next - off)},
                       content);
        }
        off = next;
      }
    }
    inode->durable = content;
    inode->live = std::move(content);
    inode->pending.clear();
  }
  ++generation_;
  stopped_ = false;
  stop_at_mutation_ = 0;
  fail_at_.fill(0);
}

void FaultInjectingFileSystem::PutDurableFile(const std::string& path, std::string content) {
  std::lock_guard lock(mu_);
  Directory* dir = FindDir(DirName(path));
  if (dir == nullptr) {
    dirs_[DirName(path)] = std::make_unique<Directory>();
    dir = FindDir(DirName(path));
  }
  auto inode = std::make_shared<Inode>();
  inode->live = content;
  inode->durable = std::move(content);
  const std::string name = BaseName(path);
  dir->live[name] = inode;
  dir->durable[name] = inode;
}

bool FaultInjectingFileSystem::Exists(const std::string& path) const {
  std::lock_guard lock(mu_);
  return FindFile(path) != nullptr;
}

absl::Status FaultInjectingFileSystem::CheckRunning(const std::string& what) const {
  if (stopped_) return Eio(absl::StrCat(what, ": the power is off"));
  return absl::OkStatus();
}

absl::Status FaultInjectingFileSystem::BeginMutation(FsOp op, const std::string& what) {
  if (absl::Status s = CheckRunning(what); !s.ok()) return s;
  const auto i = static_cast<size_t>(op);
  ++mutations_;
  ++op_counts_[i];
  if (stop_at_mutation_ != 0 && mutations_ == stop_at_mutation_) {
    stopped_ = true;
    return Eio(absl::StrCat(what, ": power cut"));
  }
  if (fail_at_[i] != 0 && op_counts_[i] == fail_at_[i]) {
    fail_at_[i] = 0;
    return Eio(what);
  }
  return absl::OkStatus();
}

FaultInjectingFileSystem::Directory* FaultInjectingFileSystem::FindDir(const std::string& dir) {
  auto it = dirs_.find(dir);
  return it == dirs_.end() ? nullptr : it->second.get();
}

const FaultInjectingFileSystem::Directory* FaultInjectingFileSystem::FindDir(
    const std::string& dir) const {
  auto it = dirs_.find(dir);
  return it == dirs_.end() ? nullptr : it->second.get();
}

std::shared_ptr<FaultInjectingFileSystem::Inode> FaultInjectingFileSystem::FindFile(
    const std::string& path) const {
  const Directory* dir = FindDir(DirName(path));
  if (dir == nullptr) return nullptr;
  auto it = dir->live.find(BaseName(path));
  return it == dir->live.end() ? nullptr : it->second;
}

absl::StatusOr<std::unique_ptr<WritableFile>> FaultInjectingFileSystem::OpenWritable(
    const std::string& path, OpenMode mode) {
  std::lock_guard lock(mu_);
  const std::string what = absl::StrCat("open ", path);
  if (mode == OpenMode::kOpenExisting) {
    if (absl::Status s = CheckRunning(what); !s.ok()) return s;
    std::shared_ptr<Inode> inode = FindFile(path);
    if (inode == nullptr) return absl::NotFoundError(absl::StrCat(what, ": no such file"));
    return std::make_unique<File>(this, std::move(inode), path, generation_);
  }
  Directory* dir = FindDir(DirName(path));
  if (dir == nullptr) {
    if (absl::Status s = CheckRunning(what); !s.ok()) return s;
    return absl::NotFoundError(absl::StrCat(what, ": no such directory"));
  }
  if (dir->live.count(BaseName(path)) != 0) {
    if (absl::Status s = CheckRunning(what); !s.ok()) return s;
    return absl::AlreadyExistsError(absl::StrCat(what, ": file exists"));
  }
  if (absl::Status s = BeginMutation(FsOp::kCreate, what); !s.ok()) return s;
  auto inode = std::make_shared<Inode>();
  dir->live[BaseName(path)] = inode;
  dir->pending.push_back({Directory::OpKind::kLink, BaseName(path), "", inode});
  return std::make_unique<File>(this, std::move(inode), path, generation_);
}

absl::Status FaultInjectingFileSystem::FileWriteAt(Inode& inode, uint64_t generation,
                                                   const std::string& path, uint64_t offset,
                                                   std::string_view data) {
  std::lock_guard lock(mu_);
  const std::string what = absl::StrCat("pwrite ", path);
  if (generation != generation_) return absl::FailedPreconditionError(what + ": stale handle");
  absl::Status s = BeginMutation(FsOp::kWrite, what);
  if (!s.ok()) {
    // A write that fails may still have stored part of its data.
    const uint64_t sectors = data.size() / kSectorBytes;
    data = data.substr(0, (sectors == 0 ? 0 : rng_() % (sectors + 1)) * kSectorBytes);
  }
  if (!data.empty()) {
    Inode::Change c{Inode::ChangeKind::kWrite, offset, std::string(data), 0};
    Inode::Apply(c, inode.live);
    inode.pending.push_back(std::move(c));
  }
  return s;
}

absl::Status FaultInjectingFileSystem::FileSync(Inode& inode, uint64_t generation,
                                                const std::string& path) {
  std::lock_guard lock(mu_);
  const std::string what = absl::StrCat("fdatasync ", path);
  if (generation != generation_) return absl::FailedPreconditionError(what + ": stale handle");
  absl::Status s = BeginMutation(FsOp::kSync, what);
  if (s.ok()) {
    for (const Inode::Change& c : inode.pending) Inode::Apply(c, inode.durable);
  }
  // After a failed sync the pages count as clean but never reached the disk.
  inode.pending.clear();
  return s;
}

absl::Status FaultInjectingFileSystem::FileResize(Inode& inode, uint64_t generation,
                                                  const std::string& path, FsOp op, uint64_t size) {
  std::lock_guard lock(mu_);
  const std::string what = absl::StrCat(op == FsOp::kTruncate ? "ftruncate " : "fallocate ", path);
  if (generation != generation_) return absl::FailedPreconditionError(what + ": stale handle");
  if (absl::Status s = BeginMutation(op, what); !s.ok()) return s;
  Inode::Change c{op == FsOp::kTruncate ? Inode::ChangeKind::kTruncate : Inode::ChangeKind::kGrow,
                  0, "", size};
  Inode::Apply(c, inode.live);
  inode.pending.push_back(std::move(c));
  return absl::OkStatus();
}

absl::StatusOr<std::string> FaultInjectingFileSystem::ReadFile(const std::string& path) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckRunning("read " + path); !s.ok()) return s;
  std::shared_ptr<Inode> inode = FindFile(path);
  if (inode == nullptr) return absl::NotFoundError(absl::StrCat("open ", path, ": no such file"));
  return inode->live;
}

absl::Status FaultInjectingFileSystem::EvictCachedPages(const std::string& path) {
  std::lock_guard lock(mu_);
  const std::string what = absl::StrCat("evict cached pages of ", path);
  std::shared_ptr<Inode> inode = FindFile(path);
  if (inode == nullptr) {
    if (absl::Status s = CheckRunning(what); !s.ok()) return s;
    return absl::NotFoundError(what + ": no such file");
  }
  // The fdatasync first, with the same effect as FileSync's.
  absl::Status s = BeginMutation(FsOp::kEvictCachedPages, what);
  if (s.ok()) {
    for (const Inode::Change& c : inode->pending) Inode::Apply(c, inode->durable);
  }
  inode->pending.clear();
  if (!s.ok()) return s;
  // Then every page is dropped: reads see the disk, so what a failed sync left is gone.
  inode->live = inode->durable;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> FaultInjectingFileSystem::ListDir(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckRunning("opendir " + dir); !s.ok()) return s;
  const Directory* d = FindDir(dir);
  if (d == nullptr)
    return absl::NotFoundError(absl::StrCat("opendir ", dir, ": no such directory"));
  std::vector<std::string> names;
  for (const auto& [name, inode] : d->live) names.push_back(name);
  return names;
}

absl::Status FaultInjectingFileSystem::CreateDir(const std::string& path) {
  std::lock_guard lock(mu_);
  if (absl::Status s = CheckRunning("mkdir " + path); !s.ok()) return s;
  if (FindDir(path) == nullptr) dirs_[path] = std::make_unique<Directory>();
  return absl::OkStatus();
}

absl::Status FaultInjectingFileSystem::Rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  const std::string what = absl::StrCat("rename ", from, " -> ", to);
  if (DirName(from) != DirName(to)) {
    return absl::UnimplementedError(what + ": only renames within one directory are modelled");
  }
  Directory* dir = FindDir(DirName(from));
  std::shared_ptr<Inode> inode = FindFile(from);
  if (dir == nullptr || inode == nullptr) {
    if (absl::Status s = CheckRunning(what); !s.ok()) return s;
    return absl::NotFoundError(what + ": no such file");
  }
  if (absl::Status s = BeginMutation(FsOp::kRename, what); !s.ok()) return s;
  Directory::Op op{Directory::OpKind::kRename, BaseName(from), BaseName(to), inode};
  Directory::Apply(op, dir->live);
  dir->pending.push_back(std::move(op));
  return absl::OkStatus();
}

absl::Status FaultInjectingFileSystem::Remove(const std::string& path) {
  std::lock_guard lock(mu_);
  const std::string what = absl::StrCat("unlink ", path);
  Directory* dir = FindDir(DirName(path));
  std::shared_ptr<Inode> inode = FindFile(path);
  if (dir == nullptr || inode == nullptr) {
    if (absl::Status s = CheckRunning(what); !s.ok()) return s;
    return absl::NotFoundError(what + ": no such file");
  }
  if (absl::Status s = BeginMutation(FsOp::kRemove, what); !s.ok()) return s;
  Directory::Op op{Directory::OpKind::kUnlink, BaseName(path), "", inode};
  Directory::Apply(op, dir->live);
  dir->pending.push_back(std::move(op));
  return absl::OkStatus();
}

absl::Status FaultInjectingFileSystem::SyncDir(const std::string& dir) {
  std::lock_guard lock(mu_);
  const std::string what = absl::StrCat("fsync ", dir);
  Directory* d = FindDir(dir);
  if (d == nullptr) {
    if (absl::Status s = CheckRunning(what); !s.ok()) return s;
    return absl::NotFoundError(what + ": no such directory");
  }
  // A failed directory sync leaves its operations pending: they may still reach the disk.
  if (absl::Status s = BeginMutation(FsOp::kSyncDir, what); !s.ok()) return s;
  for (const Directory::Op& op : d->pending) Directory::Apply(op, d->durable);
  d->pending.clear();
  return absl::OkStatus();
}

}  // namespace kvd::fs
