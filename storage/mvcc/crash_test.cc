// Crash test with real processes: mvcc_crash_worker applies workload batches (crash_workload.h)
// and is SIGKILLed at random points, with RocksDB's WAL off (the default: a crash loses what was
// not flushed) and on. After every kill the store must reopen at some applied index A with
// exactly the state an uninterrupted run had after batch A (revision, compact revision, HashKV,
// every live key, history replay); with the WAL on, A is at least the last commit the worker
// reported. Resuming from A+1 must end in the uninterrupted run's final state: nothing lost,
// nothing applied twice.
//
//   KVD_SEED=<n>   replay one run (the seed is printed)
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "storage/crc32c.h"
#include "storage/mvcc/crash_workload.h"
#include "storage/mvcc/testing.h"

extern char** environ;

namespace kvd::mvcc {
namespace {

using namespace kvd::mvcc::testing;  // NOLINT

constexpr uint64_t kLastIndex = 300;

// What an uninterrupted run looks like after each batch.
struct Fingerprint {
  int64_t revision = 0;
  int64_t compact = 0;
  uint32_t hash = 0;     // HashKV at the current revision
  uint32_t live = 0;     // CRC of every live key-value
  uint32_t history = 0;  // CRC of the events replayed from the compact revision
  friend bool operator==(const Fingerprint&, const Fingerprint&) = default;
};

std::ostream& operator<<(std::ostream& os, const Fingerprint& f) {
  return os << "{rev " << f.revision << " compact " << f.compact << " hash " << f.hash << " live "
            << f.live << " history " << f.history << "}";
}

Fingerprint Take(Store& s) {
  Fingerprint f;
  f.revision = s.CurrentRevision();
  f.compact = s.CompactRevision();
  auto h = s.HashKV(0);
  EXPECT_TRUE(h.ok()) << h.status();
  f.hash = h.ok() ? h->hash : 0;
  auto all = s.Range(Get(std::string(1, '\0'), std::string(1, '\0')));
  EXPECT_TRUE(all.ok());
  f.live = storage::Crc32c(all.ok() ? all->SerializeAsString() : "");
  EventQuery q;
  q.key = std::string(1, '\0');
  q.range_end = std::string(1, '\0');
  q.start_revision = std::max<int64_t>(f.compact, 1);
  q.prev_kv = true;
  auto ev = s.ReadEvents(q);
  EXPECT_TRUE(ev.ok()) << ev.status();
  uint32_t c = 0;
  if (ev.ok()) {
    for (const auto& e : ev->events) c = storage::Crc32c(c, e.SerializeAsString());
  }
  f.history = c;
  return f;
}

std::string WorkerPath() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  std::string self(buf, n > 0 ? static_cast<size_t>(n) : 0);
  return self.substr(0, self.rfind('/') + 1) + "mvcc_crash_worker";
}

// A running worker whose stdout is read line by line.
class Worker {
 public:
  Worker(const std::string& dir, uint64_t seed, bool wal) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    std::string path = WorkerPath();
    std::string seed_s = std::to_string(seed), last_s = std::to_string(kLastIndex);
    std::string mode = wal ? "wal" : "nowal";
    char* argv[] = {path.data(),   const_cast<char*>(dir.c_str()),
                    seed_s.data(), last_s.data(),
                    mode.data(),   nullptr};
    int rc = posix_spawn(&pid_, path.c_str(), &fa, nullptr, argv, environ);
    EXPECT_EQ(rc, 0) << "spawn " << path;
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~Worker() {
    if (pid_ > 0) Kill();
    ::close(out_);
  }

  // The next line, or "" at end of output; fails the test after `deadline`.
  std::string ReadLine(std::chrono::seconds deadline = std::chrono::seconds(60)) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (true) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        ADD_FAILURE() << "worker silent past the deadline";
        return "";
      }
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      ssize_t n = ::read(out_, chunk, sizeof(chunk));
      if (n <= 0) return "";
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

  void Kill() {
    ::kill(pid_, SIGKILL);
    Wait();
  }
  int Wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;
};

uint64_t Committed(const std::string& line) {
  return line.rfind("committed ", 0) == 0 ? std::strtoull(line.c_str() + 10, nullptr, 10) : 0;
}

void RunCrashRounds(uint64_t seed) {
  std::printf("crash test seed %llu (replay with KVD_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  TempDir dir;

  // The uninterrupted run, in this process.
  std::vector<Fingerprint> expected;
  {
    StoreOptions o = SmallStoreOptions();
    auto ref = Store::Open(dir.Sub("reference"), o);
    ASSERT_TRUE(ref.ok());
    expected.push_back(Take(**ref));
    for (uint64_t i = 1; i <= kLastIndex; ++i) {
      ApplyBatch b = (*ref)->BeginBatch();
      ApplyWorkloadBatch(b, seed, i);
      ASSERT_TRUE(b.Commit(i, 1 + i / 50).ok());
      expected.push_back(Take(**ref));
    }
  }

  const std::string db = dir.Sub("crashing");
  uint64_t applied = 0;
  for (int round = 0; round < 12 && applied < kLastIndex; ++round) {
    const bool wal = rng() % 2 == 0;
    Worker w(db, seed, wal);
    std::string opened = w.ReadLine();
    ASSERT_EQ(opened, "opened " + std::to_string(applied));
    // Kill after a random number of further commits (sometimes right away).
    uint64_t target = applied + rng() % 40;
    uint64_t reported = applied;
    while (reported < target && reported < kLastIndex) {
      std::string line = w.ReadLine();
      ASSERT_NE(line, "") << "worker died";
      reported = std::max(reported, Committed(line));
    }
    if (rng() % 3 == 0) {
      // Let it run on briefly, so the kill also lands mid-batch or mid-flush.
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    }
    w.Kill();

    auto s = Store::Open(db, SmallStoreOptions());
    ASSERT_TRUE(s.ok()) << s.status();
    uint64_t now = (*s)->Applied().index;
    ASSERT_LE(now, kLastIndex);
    if (wal) {
      ASSERT_GE(now, reported) << "a reported commit was lost with the WAL on";
    }
    ASSERT_EQ(Take(**s), expected[now]) << "state after kill at applied index " << now << " (round "
                                        << round << ", wal " << wal << ")";
    std::printf("  round %d (%s): killed after commit %llu, reopened at %llu\n", round,
                wal ? "wal" : "no wal", static_cast<unsigned long long>(reported),
                static_cast<unsigned long long>(now));
    applied = now;
  }

  // Finish without interruption.
  {
    Worker w(db, seed, rng() % 2 == 0);
    ASSERT_EQ(w.ReadLine(), "opened " + std::to_string(applied));
    std::string line;
    do {
      line = w.ReadLine();
    } while (!line.empty() && line != "done");
    ASSERT_EQ(line, "done");
    ASSERT_EQ(w.Wait(), 0);
  }
  auto s = Store::Open(db, SmallStoreOptions());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->Applied().index, kLastIndex);
  EXPECT_EQ(Take(**s), expected[kLastIndex]);
}

TEST(CrashTest, KilledWorkerReopensAtAConsistentAppliedIndex) {
  if (const char* replay = std::getenv("KVD_SEED")) {
    RunCrashRounds(std::strtoull(replay, nullptr, 10));
    return;
  }
  uint64_t seed =
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) % 1000003;
  for (int run = 0; run < 2 && !::testing::Test::HasFailure(); ++run) RunCrashRounds(seed + run);
}

}  // namespace
}  // namespace kvd::mvcc
