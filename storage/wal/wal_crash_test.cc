// Crash tests with real processes and real files: a forked child writes random batches through
// the WAL and reports each one to the parent over a pipe, before it starts it ("intent") and once
// Save returned OK ("ack"). The parent SIGKILLs the child at a random point and reopens the WAL:
// recovery must succeed and hold exactly the acknowledged operations, plus at most the one in
// flight, entry data included. The WAL accumulates across iterations, so recovery meets
// repaired tails, cut segments, truncations, snapshots and released segments.
//
// KVD_WAL_CRASH_SEED replays a run; KVD_WAL_CRASH_ITERATIONS sets how many kills.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "storage/fs/posix_file_system.h"
#include "storage/fs/scratch_dir.h"
#include "storage/wal/wal.h"
#include "storage/wal/wal_workload.h"

namespace kvd::wal {
namespace {

using testing::LogModel;
using testing::WalOp;

constexpr char kIntent = 'I';
constexpr char kAck = 'A';
constexpr char kError = 'E';

WalOptions CrashOptions() {
  WalOptions o;
  o.segment_bytes = 32 << 10;
  o.prepare_segments_in_background = true;
  return o;
}

void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(10);
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// The child: recover, then run random operations, reporting each. Never returns.
[[noreturn]] void RunWriter(const std::string& dir, uint64_t seed, int report_fd) {
  fs::PosixFileSystem fs;
  absl::StatusOr<Wal::Opened> opened = Wal::Open(&fs, dir, CrashOptions());
  if (!opened.ok()) {
    WriteAll(report_fd, std::string(1, kError) + opened.status().ToString());
    ::_exit(2);
  }
  LogModel model = testing::ModelOf(opened->log);
  std::mt19937_64 rng(seed);
  testing::WorkloadShape shape;
  shape.max_entries_per_batch = 48;
  shape.max_entry_bytes = 512;
  shape.install_probability = 0.01;
  for (int i = 0; i < 300; ++i) {
    const WalOp op = testing::NextOp(rng, model, shape);
    WriteAll(report_fd, std::string(1, kIntent) + op.ToWire());
    if (absl::Status s = testing::ApplyToWal(*opened->wal, op); !s.ok()) {
      WriteAll(report_fd, std::string(1, kError) + op.ToString() + ": " + s.ToString());
      ::_exit(3);
    }
    testing::ApplyToModel(model, op);
    WriteAll(report_fd, std::string(1, kAck));
  }
  if (!opened->wal->Close().ok()) ::_exit(4);
  ::_exit(0);
}

// What the parent heard from one child.
struct Report {
  std::vector<WalOp> acked;
  std::optional<WalOp> in_flight;
  std::string error;
  std::string pending;  // bytes of a message not yet complete

  // Consumes complete messages from pending.
  void Parse() {
    while (!pending.empty()) {
      if (pending[0] == kAck) {
        if (!in_flight) {
          error = "ack without an intent";
          return;
        }
        acked.push_back(*in_flight);
        in_flight.reset();
        pending.erase(0, 1);
      } else if (pending[0] == kIntent) {
        if (pending.size() < 1 + WalOp::kWireBytes) return;
        in_flight = WalOp::FromWire(std::string_view(pending).substr(1, WalOp::kWireBytes));
        pending.erase(0, 1 + WalOp::kWireBytes);
      } else if (pending[0] == kError) {
        error = pending.substr(1);
        pending.clear();
      } else {
        error = "garbled report";
        return;
      }
    }
  }
};

// Reads from fd until `acks` acknowledgements have arrived or the child closes the pipe.
// Returns false if the deadline passes first.
bool ReadUntil(int fd, Report& r, size_t acks, std::chrono::steady_clock::time_point deadline) {
  char buf[4096];
  while (r.acked.size() < acks) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;  // the child is gone
    r.pending.append(buf, static_cast<size_t>(n));
    r.Parse();
  }
  return true;
}

// Keeps reading reports for `d` (a random delay before the kill, not a wait for a condition).
void ReadFor(int fd, Report& r, std::chrono::microseconds d) {
  const auto end = std::chrono::steady_clock::now() + d;
  char buf[4096];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    const timespec ts{0, static_cast<long>(left.count())};
    pollfd p{fd, POLLIN, 0};
    if (::ppoll(&p, 1, &ts, nullptr) <= 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) return;
    r.pending.append(buf, static_cast<size_t>(n));
    r.Parse();
  }
}

TEST(WalCrashTest, AcknowledgedBatchesSurviveSigkillAtRandomPoints) {
  const uint64_t seed = testing::SeedFromEnv("KVD_WAL_CRASH_SEED");
  const int iterations = testing::CountFromEnv("KVD_WAL_CRASH_ITERATIONS", 40);
  fs::ScratchDir tmp;
  const std::string dir = tmp.Sub("wal");
  std::mt19937_64 rng(seed);
  LogModel on_disk;  // what the last recovery found
  int killed_in_flight = 0, in_flight_recovered = 0, finished = 0, with_notices = 0;
  size_t acked_total = 0;

  for (int it = 0; it < iterations; ++it) {
    SCOPED_TRACE("iteration " + std::to_string(it));
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const uint64_t child_seed = rng();
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      RunWriter(dir, child_seed, fds[1]);
    }
    ::close(fds[1]);

    // Let it acknowledge a random number of operations (none: it may still be recovering),
    // then kill it after a random further delay, wherever it is.
    const size_t kill_after = rng() % 80;
    const auto jitter = std::chrono::microseconds(rng() % 4000);
    Report report;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    ASSERT_TRUE(ReadUntil(fds[0], report, kill_after, deadline)) << "the writer stalled";
    ReadFor(fds[0], report, jitter);
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(ReadUntil(fds[0], report, SIZE_MAX, deadline));  // drain: reports sent before
    ::close(fds[0]);
    ASSERT_TRUE(report.error.empty()) << "writer failed: " << report.error;
    if (WIFEXITED(status)) {
      ASSERT_EQ(WEXITSTATUS(status), 0);
      ++finished;
    }

    LogModel acked = on_disk;
    for (const WalOp& op : report.acked) testing::ApplyToModel(acked, op);
    std::optional<LogModel> with_in_flight;
    if (report.in_flight) {
      with_in_flight = acked;
      testing::ApplyToModel(*with_in_flight, *report.in_flight);
    }
    acked_total += report.acked.size();

    fs::PosixFileSystem fs;
    absl::StatusOr<Wal::Opened> opened = Wal::Open(&fs, dir, CrashOptions());
    ASSERT_TRUE(opened.ok()) << "recovery after SIGKILL failed: " << opened.status();
    const LogModel got = testing::ModelOf(opened->log);
    const bool is_acked = got == acked;
    const bool is_in_flight = with_in_flight && got == *with_in_flight;
    ASSERT_TRUE(is_acked || is_in_flight)
        << "recovered " << testing::Describe(got) << "\nacknowledged " << testing::Describe(acked)
        << (with_in_flight ? "\nin flight: " + report.in_flight->ToString() : "");
    killed_in_flight += report.in_flight ? 1 : 0;
    in_flight_recovered += is_in_flight && !is_acked ? 1 : 0;
    with_notices += opened->log.notices.empty() ? 0 : 1;
    on_disk = got;
    ASSERT_TRUE(opened->wal->Close().ok());
  }
  std::cout << iterations << " kills, " << acked_total << " operations acknowledged; "
            << killed_in_flight << " kills with an operation in flight (recovered in "
            << in_flight_recovered << "), " << finished << " writers finished first, "
            << with_notices << " recoveries repaired something\n";
}

}  // namespace
}  // namespace kvd::wal
