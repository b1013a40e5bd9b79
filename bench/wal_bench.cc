// wal_bench: WAL append + fdatasync throughput beside the raw fdatasync rate of the same disk.
//
//   wal_bench --dir=DIR [--seconds=5] [--entry-bytes=256] [--batches=1,16,256]
//             [--segment-mib=64] [--zero-fill=1]
//
// For each batch size, a fresh WAL in DIR receives Saves of that many entries (plus a hard state,
// as a Raft Ready carries) for --seconds; each Save is one write and one fdatasync. The raw rate
// is "write 256 bytes at the end of a file, fdatasync", in a loop, in the same directory, measured
// before and after the WAL runs. The ratio is WAL Saves/s over raw fdatasyncs/s: 1.0 means the
// WAL costs nothing beyond the fdatasync it must do. DIR must be on the disk to measure (not
// tmpfs).
#include <fcntl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "storage/fs/posix_file_system.h"
#include "storage/wal/wal.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string dir;
  double seconds = 5;
  size_t entry_bytes = 256;
  std::vector<size_t> batches = {1, 16, 256};
  uint64_t segment_mib = 64;
  bool zero_fill = true;
};

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "wal_bench: %s\n", why.c_str());
  std::exit(1);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const size_t eq = a.find('=');
    const std::string key = a.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (key == "--dir") {
      f.dir = value;
    } else if (key == "--seconds") {
      f.seconds = std::atof(value.c_str());
    } else if (key == "--entry-bytes") {
      f.entry_bytes = std::strtoull(value.c_str(), nullptr, 10);
    } else if (key == "--segment-mib") {
      f.segment_mib = std::strtoull(value.c_str(), nullptr, 10);
    } else if (key == "--zero-fill") {
      f.zero_fill = value != "0";
    } else if (key == "--batches") {
      f.batches.clear();
      for (size_t p = 0; p < value.size();) {
        const size_t comma = std::min(value.find(',', p), value.size());
        f.batches.push_back(std::strtoull(value.substr(p, comma - p).c_str(), nullptr, 10));
        p = comma + 1;
      }
    } else {
      Die("unknown flag " + a + " (see the top of bench/wal_bench.cc)");
    }
  }
  if (f.dir.empty()) Die("--dir=DIR is required: a directory on the disk to measure");
  return f;
}

std::string FileSystemName(const std::string& dir) {
  struct statfs s;
  if (::statfs(dir.c_str(), &s) != 0) return "unknown";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0xEF53:
      return "ext2/3/4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs";
    case 0x794C7630:
      return "overlayfs";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "0x%lx", static_cast<unsigned long>(s.f_type));
      return buf;
    }
  }
}

// fdatasyncs per second of "append `bytes` bytes, fdatasync" on a fresh file in dir.
double RawFdatasyncRate(const std::string& dir, size_t bytes, double seconds) {
  const std::string path = dir + "/raw-fdatasync.bench";
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Die("open " + path + ": " + std::strerror(errno));
  const std::string buf(bytes, 'r');
  uint64_t n = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (::pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(n * bytes)) !=
        static_cast<ssize_t>(bytes)) {
      Die("pwrite " + path + ": " + std::strerror(errno));
    }
    if (::fdatasync(fd) != 0) Die("fdatasync " + path + ": " + std::strerror(errno));
    ++n;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  ::unlink(path.c_str());
  return static_cast<double>(n) / elapsed;
}

struct WalResult {
  double saves_per_second = 0;
  double entries_per_second = 0;
  double mib_per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
};

WalResult MeasureWal(const Flags& flags, size_t batch) {
  const std::string dir = flags.dir + "/wal-bench-" + std::to_string(batch);
  std::filesystem::remove_all(dir);
  kvd::fs::PosixFileSystem fs;
  kvd::wal::WalOptions options;
  options.segment_bytes = flags.segment_mib << 20;
  options.zero_fill_segments = flags.zero_fill;
  absl::StatusOr<kvd::wal::Wal::Opened> opened = kvd::wal::Wal::Open(&fs, dir, options);
  if (!opened.ok()) Die(opened.status().ToString());
  kvd::wal::Wal& wal = *opened->wal;

  std::vector<kvd::raft::Entry> entries(batch);
  for (auto& e : entries) {
    e.term = 1;
    e.data.assign(flags.entry_bytes, 'e');
  }
  std::vector<double> latencies_us;
  kvd::raft::Index next = 1;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(flags.seconds);
  while (Clock::now() < end) {
    for (size_t i = 0; i < batch; ++i) entries[i].index = next + i;
    const kvd::raft::HardState hs{.term = 1, .vote = 1, .commit = next - 1};
    const auto t0 = Clock::now();
    if (absl::Status s = wal.Save(&hs, entries); !s.ok()) Die(s.ToString());
    latencies_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    next += batch;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  if (absl::Status s = wal.Close(); !s.ok()) Die(s.ToString());
  opened->wal.reset();
  std::filesystem::remove_all(dir);

  WalResult r;
  const double saves = static_cast<double>(latencies_us.size());
  r.saves_per_second = saves / elapsed;
  r.entries_per_second = saves * static_cast<double>(batch) / elapsed;
  r.mib_per_second =
      r.entries_per_second * static_cast<double>(flags.entry_bytes) / (1024.0 * 1024.0);
  std::sort(latencies_us.begin(), latencies_us.end());
  r.p50_us = latencies_us[latencies_us.size() / 2];
  r.p99_us = latencies_us[latencies_us.size() * 99 / 100];
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  std::filesystem::create_directories(flags.dir);
  const std::string fs_name = FileSystemName(flags.dir);
  std::printf(
      "directory %s (%s); entries of %zu bytes; %llu MiB segments, zero-filled: %s; "
      "%.1f s per case\n",
      flags.dir.c_str(), fs_name.c_str(), flags.entry_bytes,
      static_cast<unsigned long long>(flags.segment_mib), flags.zero_fill ? "yes" : "no",
      flags.seconds);
  if (fs_name == "tmpfs") std::printf("WARNING: tmpfs has no disk: fdatasync costs nothing\n");

  const double raw_before = RawFdatasyncRate(flags.dir, 256, flags.seconds);
  std::vector<std::pair<size_t, WalResult>> results;
  for (size_t batch : flags.batches) results.emplace_back(batch, MeasureWal(flags, batch));
  const double raw_after = RawFdatasyncRate(flags.dir, 256, flags.seconds);
  const double raw = (raw_before + raw_after) / 2;

  std::printf("raw fdatasync (append 256 B + fdatasync): %.0f/s (before %.0f, after %.0f)\n\n", raw,
              raw_before, raw_after);
  std::printf(
      "| entries/batch | Saves/s | entries/s | MiB/s | p50 us | p99 us | Saves/s / raw |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& [batch, r] : results) {
    std::printf("| %zu | %.0f | %.0f | %.1f | %.0f | %.0f | %.2f |\n", batch, r.saves_per_second,
                r.entries_per_second, r.mib_per_second, r.p50_us, r.p99_us,
                r.saves_per_second / raw);
  }
  return 0;
}
