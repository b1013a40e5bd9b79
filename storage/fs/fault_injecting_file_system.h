// FaultInjectingFileSystem: an in-memory file system that keeps, beside what reads see, what
// would survive a power loss under the POSIX rules in storage/fs/file_system.h, and lets a test
// fail chosen operations or cut the power. For tests only.
//
// The model, per file (inode): the content reads see, the durable content, and the writes,
// truncations and preallocations made since the last successful Sync() (pending). Sync() makes
// pending durable; a failed Sync() drops pending for good (the kernel marked the pages clean
// without writing them), though reads still see the data: those pages stay in the page cache,
// across a restart of the process, until EvictCachedPages drops them (it syncs pending, then
// reads see the durable content) or the power goes. Per directory: the names reads see,
// the durable names, and the creates, renames and removes since the last successful SyncDir().
// A rename is atomic: after a crash a name points at the old file or the new one. Directories
// themselves are durable as soon as CreateDir() returns (the WAL never creates them).
//
// SimulateCrash() is a power loss followed by a reboot: every directory and file falls back to
// its durable state (kDropUnsynced), or to its durable state plus a random subset of what was
// pending (kKeepRandomUnsynced: each 512-byte sector of each pending write, each pending size
// change and each pending directory operation survives or not, by a seeded coin), files that no
// durable name reaches are gone, and handles opened before the crash fail on every later use.
//
// Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "storage/fs/file_system.h"

namespace kvd::fs {

// The operations that change a file system, as counted and failed by FaultInjectingFileSystem.
enum class FsOp : uint8_t {
  kCreate,       // OpenWritable(kCreateNew)
  kWrite,        // WritableFile::WriteAt
  kSync,         // WritableFile::Sync
  kTruncate,     // WritableFile::Truncate
  kPreallocate,  // WritableFile::Preallocate
  kRename,
  kRemove,
  kSyncDir,
  kEvictCachedPages,  // FileSystem::EvictCachedPages (its fdatasync is what can fail)
};
inline constexpr int kFsOpCount = 9;

enum class CrashMode : uint8_t {
  kDropUnsynced,        // only what was synced survives
  kKeepRandomUnsynced,  // synced state plus a random subset of what was not (seeded)
};

class FaultInjectingFileSystem final : public FileSystem {
 public:
  // seed drives the random choices: the length of a failed write's partial effect and, unless
  // SimulateCrash is given its own, nothing else.
  explicit FaultInjectingFileSystem(uint64_t seed = 1);
  ~FaultInjectingFileSystem() override;

  // The n-th (1 = the next) future operation of kind op fails with EIO, once. A failed write
  // stores a random sector-aligned prefix of its data first, as a real one may.
  void FailNth(FsOp op, uint64_t n);
  // Power cut at the n-th (1 = the next) future mutating operation: that operation fails with EIO
  // and so does every operation after it, reads included, until SimulateCrash().
  void StopAtNthMutation(uint64_t n);
  // Whether a power cut set by StopAtNthMutation has happened.
  bool stopped() const;
  // Mutating operations attempted so far (failed ones included).
  uint64_t mutation_count() const;
  uint64_t op_count(FsOp op) const;

  void SimulateCrash(CrashMode mode, uint64_t seed = 0);

  // Test setup: creates or replaces path with content, durably (name and bytes), as if written
  // and synced long ago. The directory must exist.
  void PutDurableFile(const std::string& path, std::string content);
  bool Exists(const std::string& path) const;

  absl::StatusOr<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path,
                                                             OpenMode mode) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::Status EvictCachedPages(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override;
  absl::Status CreateDir(const std::string& path) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status SyncDir(const std::string& dir) override;

 private:
  struct Inode;
  struct Directory;
  class File;

  // Counts one attempt of a mutating op and decides whether it fails. Caller holds mu_.
  absl::Status BeginMutation(FsOp op, const std::string& what);
  absl::Status CheckRunning(const std::string& what) const;
  Directory* FindDir(const std::string& dir);
  const Directory* FindDir(const std::string& dir) const;
  std::shared_ptr<Inode> FindFile(const std::string& path) const;

  absl::Status FileWriteAt(Inode& inode, uint64_t generation, const std::string& path,
                           uint64_t offset, std::string_view data);
  absl::Status FileSync(Inode& inode, uint64_t generation, const std::string& path);
  absl::Status FileResize(Inode& inode, uint64_t generation, const std::string& path, FsOp op,
                          uint64_t size);

  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  std::map<std::string, std::unique_ptr<Directory>> dirs_;
  uint64_t generation_ = 0;  // bumped by SimulateCrash; stale handles compare against it
  uint64_t mutations_ = 0;
  uint64_t stop_at_mutation_ = 0;  // 0: none
  bool stopped_ = false;
  std::array<uint64_t, kFsOpCount> op_counts_{};
  std::array<uint64_t, kFsOpCount> fail_at_{};  // op count at which that op fails; 0: none
};

}  // namespace kvd::fs
