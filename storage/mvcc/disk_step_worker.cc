// The child process of disk_step_crash_test: runs one operation of the store that changes its
// directories, printing "step <n> <description>" before each step and flushing stdout, and
// SIGKILLs itself just before step <kill-at> (0: never), so the test sees the disk exactly as a
// crash there leaves it.
//
//   mvcc_disk_step_worker install <db-dir> <snapshot-dir> <fail-at> <kill-at>
//     Opens the store in <db-dir> and installs the snapshot in <snapshot-dir>. Steps are the
//     install's own (renames, fsyncs, removals: StoreOptions::before_step); step <fail-at>
//     (0: none) fails with an I/O error instead, which sends the install down its undo path.
//     Prints "installed" or "install failed: <status>" at the end.
//   mvcc_disk_step_worker create <db-dir> <kill-at>
//     Opens (creating) the store in <db-dir>. Steps are the store's own and every file, rename,
//     delete and directory creation RocksDB asks of its file system. Prints "opened <applied>".
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "storage/mvcc/errors.h"
#include "storage/mvcc/store.h"
#include "storage/mvcc/testing_requests.h"

namespace {

using kvd::mvcc::Store;
using kvd::mvcc::StoreOptions;

std::atomic<uint64_t> g_step{0};
uint64_t g_kill_at = 0;
uint64_t g_fail_at = 0;

// Counts a step; kills the process before step g_kill_at. True if the step must fail.
bool Step(std::string_view what) {
  const uint64_t n = ++g_step;
  std::printf("step %llu %.*s\n", static_cast<unsigned long long>(n), static_cast<int>(what.size()),
              what.data());
  std::fflush(stdout);
  if (n == g_kill_at) ::raise(SIGKILL);
  return n == g_fail_at;
}

// RocksDB's file system, with every change to the directory tree counted as a step.
class SteppedFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  explicit SteppedFileSystem(const std::shared_ptr<rocksdb::FileSystem>& base)
      : FileSystemWrapper(base) {}
  const char* Name() const override { return "SteppedFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* d) override {
    Step("rocksdb create " + f);
    return FileSystemWrapper::NewWritableFile(f, o, r, d);
  }
  rocksdb::IOStatus RenameFile(const std::string& s, const std::string& t,
                               const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    Step("rocksdb rename " + s + " -> " + t);
    return FileSystemWrapper::RenameFile(s, t, o, d);
  }
  rocksdb::IOStatus DeleteFile(const std::string& f, const rocksdb::IOOptions& o,
                               rocksdb::IODebugContext* d) override {
    Step("rocksdb delete " + f);
    return FileSystemWrapper::DeleteFile(f, o, d);
  }
  rocksdb::IOStatus CreateDir(const std::string& f, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* d) override {
    Step("rocksdb mkdir " + f);
    return FileSystemWrapper::CreateDir(f, o, d);
  }
  rocksdb::IOStatus CreateDirIfMissing(const std::string& f, const rocksdb::IOOptions& o,
                                       rocksdb::IODebugContext* d) override {
    Step("rocksdb mkdir " + f);
    return FileSystemWrapper::CreateDirIfMissing(f, o, d);
  }
};

int Usage(const char* self) {
  std::fprintf(stderr,
               "usage: %s install <db-dir> <snapshot-dir> <fail-at> <kill-at>\n"
               "       %s create <db-dir> <kill-at>\n",
               self, self);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage(argv[0]);
  const std::string mode = argv[1];
  if (mode == "install" && argc == 6) {
    g_fail_at = std::strtoull(argv[4], nullptr, 10);
    g_kill_at = std::strtoull(argv[5], nullptr, 10);
    StoreOptions options = kvd::mvcc::testing::SmallStoreOptions();
    bool counting = false;  // only the install's steps, not those of opening the store
    options.before_step = [&](std::string_view what) -> absl::Status {
      if (counting && Step(what)) return kvd::mvcc::ErrIo(std::string(what), "injected failure");
      return absl::OkStatus();
    };
    auto store = Store::Open(argv[2], options);
    if (!store.ok()) {
      std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
      return 1;
    }
    counting = true;
    const absl::Status s = (*store)->InstallSnapshot(argv[3]);
    counting = false;
    if (s.ok()) {
      std::printf("installed\n");
    } else {
      std::printf("install failed: %s\n", s.ToString().c_str());
    }
    return 0;
  }
  if (mode == "create" && argc == 4) {
    g_kill_at = std::strtoull(argv[3], nullptr, 10);
    auto fs = std::make_shared<SteppedFileSystem>(rocksdb::FileSystem::Default());
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
    StoreOptions options = kvd::mvcc::testing::SmallStoreOptions();
    options.env = env.get();
    options.before_step = [](std::string_view what) -> absl::Status {
      Step(what);
      return absl::OkStatus();
    };
    auto store = Store::Open(argv[2], options);
    if (!store.ok()) {
      std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
      return 1;
    }
    std::printf("opened %llu\n", static_cast<unsigned long long>((*store)->Applied().index));
    std::fflush(stdout);
    store->reset();
    return 0;
  }
  return Usage(argv[0]);
}
