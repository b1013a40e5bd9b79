// Crash tests, with real processes, of the changes the store makes to its directories itself:
// mvcc_disk_step_worker installs a snapshot or creates a store and SIGKILLs itself just before
// its k-th step, for every k. After each kill the member's data directory must open
// (storage::DataDir::Open) and the store in it (Store::Open), holding a state decided by how far
// the steps got:
//   - install: the previous state, with the snapshot directory still in place, until the
//     snapshot has been renamed over db/; from then on the snapshot's state, with the snapshot
//     directory gone. Never a missing db/, a leftover db.replaced/ or a refusal.
//   - creation: a new empty store, wherever RocksDB's first open was cut.
// A process kill loses nothing the kernel has accepted, so the durability of each rename is
// checked on the order of the steps instead: every rename and removal is followed by an fsync
// of the directories it changed before the next change.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/data_dir.h"
#include "storage/mvcc/crash_workload.h"
#include "storage/mvcc/snapshot.h"
#include "storage/mvcc/testing.h"

extern char** environ;

namespace kvd::mvcc {
namespace {

namespace stdfs = std::filesystem;
using namespace kvd::mvcc::testing;  // NOLINT

constexpr uint64_t kSeed = 7;
constexpr uint64_t kOldIndex = 20;  // the store's state before the install
constexpr uint64_t kNewIndex = 45;  // the snapshot's

// What tells two states apart.
struct State {
  uint64_t applied = 0;
  int64_t revision = 0;
  int64_t compact = 0;
  uint32_t hash = 0;
  friend bool operator==(const State&, const State&) = default;
};

std::ostream& operator<<(std::ostream& os, const State& s) {
  return os << "{applied " << s.applied << " rev " << s.revision << " compact " << s.compact
            << " hash " << s.hash << "}";
}

State Take(Store& store) {
  State s;
  s.applied = store.Applied().index;
  s.revision = store.CurrentRevision();
  s.compact = store.CompactRevision();
  absl::StatusOr<HashKVResult> h = store.HashKV(0);
  EXPECT_TRUE(h.ok()) << h.status();
  s.hash = h.ok() ? h->hash : 0;
  return s;
}

std::string WorkerPath() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  const std::string self(buf, n > 0 ? static_cast<size_t>(n) : 0);
  return self.substr(0, self.rfind('/') + 1) + "mvcc_disk_step_worker";
}

// What a worker printed and how it ended.
struct WorkerRun {
  int status = 0;
  std::vector<std::string> lines;

  bool killed() const { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }
  bool exited_ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
  std::string last() const { return lines.empty() ? "" : lines.back(); }
  bool printed(const std::string& line) const {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  }
  // The descriptions of the steps, in order ("step <n> <description>" lines).
  std::vector<std::string> steps() const {
    std::vector<std::string> out;
    for (const std::string& l : lines) {
      if (!absl::StartsWith(l, "step ")) continue;
      const size_t sp = l.find(' ', 5);
      out.push_back(sp == std::string::npos ? "" : l.substr(sp + 1));
    }
    return out;
  }
};

// Runs the worker to its end (at most 60 s), collecting its stdout.
WorkerRun RunWorker(std::vector<std::string> args) {
  WorkerRun run;
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  std::string path = WorkerPath();
  std::vector<char*> argv{path.data()};
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, path.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  EXPECT_EQ(rc, 0) << "spawn " << path;
  if (rc != 0) {
    ::close(fds[0]);
    return run;
  }
  std::string out;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ADD_FAILURE() << "worker still running past the deadline";
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[4096];
    const ssize_t n = ::read(fds[0], chunk, sizeof(chunk));
    if (n <= 0) break;
    out.append(chunk, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  ::waitpid(pid, &run.status, 0);
  for (size_t start = 0; start < out.size();) {
    size_t nl = out.find('\n', start);
    if (nl == std::string::npos) nl = out.size();
    run.lines.push_back(out.substr(start, nl - start));
    start = nl + 1;
  }
  return run;
}

std::string Parent(const std::string& path) { return stdfs::path(path).parent_path().string(); }

// Every rename and removal among `steps` is followed, before the next change, by fsyncs of the
// directories whose entries it changed.
void ExpectEveryChangeSynced(const std::vector<std::string>& steps) {
  for (size_t i = 0; i < steps.size(); ++i) {
    std::vector<std::string> dirs;
    if (absl::StartsWith(steps[i], "rename ")) {
      const std::string rest = steps[i].substr(7);
      const size_t arrow = rest.find(" -> ");
      ASSERT_NE(arrow, std::string::npos) << steps[i];
      dirs = {Parent(rest.substr(0, arrow)), Parent(rest.substr(arrow + 4))};
    } else if (absl::StartsWith(steps[i], "remove ")) {
      dirs = {Parent(steps[i].substr(7))};
    } else {
      continue;
    }
    for (const std::string& dir : dirs) {
      bool synced = false;
      for (size_t j = i + 1; j < steps.size() && absl::StartsWith(steps[j], "fsync "); ++j) {
        synced = synced || steps[j] == "fsync " + dir;
      }
      EXPECT_TRUE(synced) << "step " << i + 1 << " (" << steps[i] << ") is not followed by fsync "
                          << dir << " before the next change";
    }
  }
}

size_t IndexOf(const std::vector<std::string>& steps, const std::string& step) {
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i] == step) return i + 1;  // steps are numbered from 1
  }
  ADD_FAILURE() << "no step \"" << step << "\"";
  return 0;
}

// One data directory holding a store at kOldIndex and, in snap/, a snapshot at kNewIndex of the
// same workload, built once; every run works on a copy.
class InstallCrashTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = new TempDir();
    const std::string proto = base_->Sub("proto");
    std::string db;
    {
      absl::StatusOr<storage::DataDir> dd = storage::DataDir::Open(proto, true);
      ASSERT_TRUE(dd.ok()) << dd.status();
      db = dd->db_dir();
    }
    auto apply = [](Store& s, uint64_t from, uint64_t to) {
      for (uint64_t i = from; i <= to; ++i) {
        ApplyBatch b = s.BeginBatch();
        ApplyWorkloadBatch(b, kSeed, i);
        ASSERT_TRUE(b.Commit(i, 1).ok());
      }
    };
    {
      auto store = Store::Open(db, SmallStoreOptions());
      ASSERT_TRUE(store.ok()) << store.status();
      apply(**store, 1, kOldIndex);
      ASSERT_TRUE((*store)->Flush().ok());
      old_ = new State(Take(**store));
    }
    {
      auto source = Store::Open(base_->Sub("source"), SmallStoreOptions());
      ASSERT_TRUE(source.ok()) << source.status();
      apply(**source, 1, kNewIndex);
      new_ = new State(Take(**source));
      ASSERT_TRUE((*source)->CreateSnapshot(proto + "/snap/recv-45-0").ok());
    }
    ASSERT_NE(*old_, *new_);
  }
  static void TearDownTestSuite() {
    delete old_;
    delete new_;
    delete base_;
  }

  // A fresh copy of the prototype data directory; returns its root.
  std::string Copy(const std::string& name) {
    const std::string root = base_->Sub(name);
    stdfs::copy(base_->Sub("proto"), root, stdfs::copy_options::recursive);
    return root;
  }

  WorkerRun Install(const std::string& root, size_t fail_at, size_t kill_at) {
    return RunWorker({"install", root + "/db", Snapshot(root), std::to_string(fail_at),
                      std::to_string(kill_at)});
  }

  static std::string Snapshot(const std::string& root) { return root + "/snap/recv-45-0"; }

  // Opens the data directory and the store as a restarted member does, and checks which state
  // it holds. `snapshot_intact`: whether the snapshot directory must still verify (it is
  // untouched until renamed into place).
  void ExpectRecovered(const std::string& root, bool expect_new, bool snapshot_intact) {
    {
      absl::StatusOr<storage::DataDir> dd = storage::DataDir::Open(root, false);
      ASSERT_TRUE(dd.ok()) << dd.status();
      auto store = Store::Open(dd->db_dir(), SmallStoreOptions());
      ASSERT_TRUE(store.ok()) << store.status();
      EXPECT_EQ(Take(**store), expect_new ? *new_ : *old_)
          << (expect_new ? "expected the snapshot's state" : "expected the previous state");
    }
    EXPECT_FALSE(stdfs::exists(root + "/db.replaced"));
    EXPECT_FALSE(stdfs::exists(root + "/db/" + std::string(kSnapshotManifest)));
    if (expect_new) {
      EXPECT_FALSE(stdfs::exists(Snapshot(root))) << "the installed snapshot is consumed";
    } else {
      EXPECT_TRUE(stdfs::is_directory(Snapshot(root))) << "the snapshot must still be there";
      if (snapshot_intact) {
        absl::StatusOr<SnapshotInfo> info = ReadSnapshotManifest(Snapshot(root));
        ASSERT_TRUE(info.ok()) << info.status();
        EXPECT_TRUE(VerifySnapshotFiles(Snapshot(root), *info).ok());
      }
    }
    stdfs::remove_all(root);
  }

  static TempDir* base_;
  static State* old_;
  static State* new_;
};

TempDir* InstallCrashTest::base_ = nullptr;
State* InstallCrashTest::old_ = nullptr;
State* InstallCrashTest::new_ = nullptr;

TEST_F(InstallCrashTest, AKillBeforeAnyStepLeavesTheOldOrTheNewStateDeterministically) {
  const std::string dry = Copy("dry");
  const WorkerRun full = Install(dry, 0, 0);
  ASSERT_TRUE(full.exited_ok());
  ASSERT_EQ(full.last(), "installed");
  const std::vector<std::string> steps = full.steps();
  const std::string db = dry + "/db";
  // The renames, the manifest's removal and the parked state's removal, in that order.
  const size_t park = IndexOf(steps, "rename " + db + " -> " + db + ".replaced");
  const size_t move_in = IndexOf(steps, "rename " + Snapshot(dry) + " -> " + db);
  const size_t unmark = IndexOf(steps, "remove " + db + "/" + std::string(kSnapshotManifest));
  const size_t drop = IndexOf(steps, "remove " + db + ".replaced");
  EXPECT_LT(park, move_in);
  EXPECT_LT(move_in, unmark);
  EXPECT_LT(unmark, drop);
  ExpectEveryChangeSynced(steps);
  ExpectRecovered(dry, /*expect_new=*/true, false);

  for (size_t k = 1; k <= steps.size(); ++k) {
    SCOPED_TRACE(absl::StrCat("killed before step ", k, ": ", steps[k - 1]));
    const std::string root = Copy(absl::StrCat("kill-", k));
    const WorkerRun run = Install(root, 0, k);
    ASSERT_TRUE(run.killed()) << "status " << run.status << ", last line " << run.last();
    ExpectRecovered(root, /*expect_new=*/k > move_in, /*snapshot_intact=*/true);
  }
}

TEST_F(InstallCrashTest, AFailedStepIsUndoneAndAKillDuringTheUndoStillRecovers) {
  const std::string dry = Copy("dry");
  const std::vector<std::string> steps = Install(dry, 0, 0).steps();
  stdfs::remove_all(dry);
  const std::string db = dry + "/db";
  const size_t unmark = IndexOf(steps, "remove " + db + "/" + std::string(kSnapshotManifest));
  const size_t drop = IndexOf(steps, "remove " + db + ".replaced");
  ASSERT_GT(drop, 0u);

  // A failure at any step before the parked state's removal fails the install, which leaves the
  // previous state; from then on the install has happened (Commit's failures are only garbage,
  // removed at the next open).
  for (size_t m = 1; m <= steps.size(); ++m) {
    SCOPED_TRACE(absl::StrCat("step ", m, " fails: ", steps[m - 1]));
    const std::string root = Copy(absl::StrCat("fail-", m));
    const WorkerRun run = Install(root, m, 0);
    ASSERT_TRUE(run.exited_ok()) << "status " << run.status << ", last line " << run.last();
    const bool failed = m < drop;
    EXPECT_EQ(absl::StartsWith(run.last(), "install failed: "), failed) << run.last();
    EXPECT_EQ(run.last() == "installed", !failed) << run.last();
    // A failure from the manifest's removal on comes after RocksDB opened the snapshot, which
    // rewrites its files: the directory is put back, but no longer what its manifest lists.
    ExpectRecovered(root, !failed, /*snapshot_intact=*/m < unmark);
  }

  // The undo after a failure of the manifest's removal, killed before each of its steps.
  const std::string undo_dry = Copy("undo-dry");
  const std::vector<std::string> undo_steps = Install(undo_dry, unmark, 0).steps();
  stdfs::remove_all(undo_dry);
  const std::string move_out =
      "rename " + undo_dry + "/db -> " + Snapshot(undo_dry);  // the undo's first rename
  const size_t out_at = IndexOf(undo_steps, move_out);
  ASSERT_GT(out_at, unmark);
  for (size_t k = unmark + 1; k <= undo_steps.size(); ++k) {
    SCOPED_TRACE(
        absl::StrCat("step ", unmark, " fails, killed before step ", k, ": ", undo_steps[k - 1]));
    const std::string root = Copy(absl::StrCat("undo-", k));
    const WorkerRun run = Install(root, unmark, k);
    ASSERT_TRUE(run.killed()) << "status " << run.status << ", last line " << run.last();
    // Until the undo moves the snapshot's state out of db/, db/ and db.replaced/ look like a
    // completed swap, and the snapshot's state stays (its manifest checked at open).
    ExpectRecovered(root, /*expect_new=*/k <= out_at, /*snapshot_intact=*/false);
  }
}

// The first open of a store in a new data directory, killed before each step of its own and of
// RocksDB's: a new empty store opens afterwards. (Built in place, a kill inside RocksDB's
// creation would leave db/ with files but no CURRENT, refused at every later start.)
TEST(CreateCrashTest, AKillAnywhereInTheFirstOpenLeavesADirectoryThatOpens) {
  TempDir base;
  auto fresh = [&](const std::string& name) {
    const std::string root = base.Sub(name);
    absl::StatusOr<storage::DataDir> dd = storage::DataDir::Open(root, true);
    EXPECT_TRUE(dd.ok()) << dd.status();
    return root;
  };
  const std::string dry = fresh("dry");
  const WorkerRun full = RunWorker({"create", dry + "/db", "0"});
  ASSERT_TRUE(full.exited_ok());
  ASSERT_TRUE(full.printed("opened 0")) << full.last();
  const std::vector<std::string> steps = full.steps();
  bool built_aside = false;
  for (const std::string& s : steps) {
    built_aside = built_aside || s == "rocksdb create " + dry + "/db.creating/CURRENT" ||
                  absl::StartsWith(s, "rocksdb rename " + dry + "/db.creating/") ||
                  absl::StartsWith(s, "rocksdb create " + dry + "/db.creating/MANIFEST");
  }
  EXPECT_TRUE(built_aside) << "RocksDB's first open does not write into db.creating/";
  EXPECT_GT(IndexOf(steps, "rename " + dry + "/db.creating -> " + dry + "/db"), 0u);
  ExpectEveryChangeSynced(steps);

  for (size_t k = 1; k <= steps.size(); ++k) {
    SCOPED_TRACE(absl::StrCat("killed before step ", k, ": ", steps[k - 1]));
    const std::string root = fresh(absl::StrCat("kill-", k));
    const WorkerRun run = RunWorker({"create", root + "/db", std::to_string(k)});
    // RocksDB's background threads may take a step or two more or fewer than in the dry run.
    ASSERT_TRUE(run.killed() || (run.exited_ok() && run.printed("opened 0")))
        << "status " << run.status << ", last line " << run.last();
    absl::StatusOr<storage::DataDir> dd = storage::DataDir::Open(root, false);
    ASSERT_TRUE(dd.ok()) << dd.status();
    auto store = Store::Open(dd->db_dir(), SmallStoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->Applied().index, 0u);
    EXPECT_EQ((*store)->CurrentRevision(), 1);
    store->reset();
    EXPECT_FALSE(stdfs::exists(root + "/db.creating"));
  }
}

}  // namespace
}  // namespace kvd::mvcc
