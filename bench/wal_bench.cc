// wal_bench: WAL append + fdatasync throughput beside the raw fdatasync rate of the same disk.
//
//   wal_bench --dir=DIR [--rounds=10] [--slice=0.5] [--entry-bytes=256] [--batches=1,16,256]
//             [--segment-mib=64] [--zero-fill=1]
//
// The contenders, each in DIR:
//  - raw: "write 256 bytes at the end of a file, fdatasync", in a loop;
//  - one WAL per batch size, receiving Saves of that many entries plus a hard state (as a Raft
//    Ready carries them); each Save is one write and one fdatasync.
// They run in turns of --slice seconds, --rounds times, so that all of them see the same
// background load on a shared disk. Reported: totals over all turns, and the ratio WAL Saves/s
// over raw fdatasyncs/s (1.0: the WAL costs nothing beyond the fdatasync it must do), as the
// median of the per-round ratios. DIR must be on the disk to measure (not tmpfs).
#include <fcntl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "storage/fs/posix_file_system.h"
#include "storage/wal/wal.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string dir;
  int rounds = 10;
  double slice = 0.5;
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
    } else if (key == "--rounds") {
      f.rounds = std::atoi(value.c_str());
    } else if (key == "--slice") {
      f.slice = std::atof(value.c_str());
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
  if (f.rounds < 1 || f.slice <= 0 || f.batches.empty()) Die("nothing to measure");
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

// Operations done and time spent, over all turns, with the latency of each operation.
struct Tally {
  uint64_t ops = 0;
  double seconds = 0;
  std::vector<double> latencies_us;
  std::vector<double> per_round_rate;

  double rate() const { return static_cast<double>(ops) / seconds; }
  double Percentile(double p) {
    std::sort(latencies_us.begin(), latencies_us.end());
    return latencies_us[static_cast<size_t>(p * static_cast<double>(latencies_us.size() - 1))];
  }
};

// Runs op repeatedly for `seconds`, adding to t.
template <typename Op>
void Turn(double seconds, Tally& t, Op op) {
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  uint64_t n = 0;
  for (auto now = start; now < end;) {
    op();
    const auto after = Clock::now();
    t.latencies_us.push_back(std::chrono::duration<double, std::micro>(after - now).count());
    now = after;
    ++n;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  t.ops += n;
  t.seconds += elapsed;
  t.per_round_rate.push_back(static_cast<double>(n) / elapsed);
}

// "Append 256 bytes, fdatasync" on one file.
class RawAppender {
 public:
  explicit RawAppender(const std::string& dir) : path_(dir + "/raw-fdatasync.bench") {
    ::unlink(path_.c_str());
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) Die("open " + path_ + ": " + std::strerror(errno));
  }
  ~RawAppender() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  void Append() {
    if (::pwrite(fd_, buf_.data(), buf_.size(), static_cast<off_t>(offset_)) !=
        static_cast<ssize_t>(buf_.size())) {
      Die("pwrite " + path_ + ": " + std::strerror(errno));
    }
    if (::fdatasync(fd_) != 0) Die("fdatasync " + path_ + ": " + std::strerror(errno));
    offset_ += buf_.size();
  }

 private:
  const std::string path_;
  int fd_ = -1;
  const std::string buf_ = std::string(256, 'r');
  uint64_t offset_ = 0;
};

// One WAL receiving batches of a fixed size.
class WalAppender {
 public:
  WalAppender(const Flags& flags, kvd::fs::FileSystem* fs, size_t batch)
      : dir_(flags.dir + "/wal-bench-" + std::to_string(batch)), entries_(batch) {
    std::filesystem::remove_all(dir_);
    kvd::wal::WalOptions options;
    options.segment_bytes = flags.segment_mib << 20;
    options.zero_fill_segments = flags.zero_fill;
    absl::StatusOr<kvd::wal::Wal::Opened> opened = kvd::wal::Wal::Open(fs, dir_, options);
    if (!opened.ok()) Die(opened.status().ToString());
    wal_ = std::move(opened->wal);
    for (kvd::raft::Entry& e : entries_) {
      e.term = 1;
      e.data.assign(flags.entry_bytes, 'e');
    }
  }
  ~WalAppender() {
    if (absl::Status s = wal_->Close(); !s.ok()) Die(s.ToString());
    wal_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Save() {
    for (size_t i = 0; i < entries_.size(); ++i) entries_[i].index = next_ + i;
    const kvd::raft::HardState hs{.term = 1, .vote = 1, .commit = next_ - 1};
    if (absl::Status s = wal_->Save(&hs, entries_); !s.ok()) Die(s.ToString());
    next_ += entries_.size();
  }

 private:
  const std::string dir_;
  std::unique_ptr<kvd::wal::Wal> wal_;
  std::vector<kvd::raft::Entry> entries_;
  kvd::raft::Index next_ = 1;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  std::filesystem::create_directories(flags.dir);
  const std::string fs_name = FileSystemName(flags.dir);
  std::printf(
      "directory %s (%s); entries of %zu bytes; %llu MiB segments, zero-filled: %s; "
      "%d rounds of %.2f s turns\n",
      flags.dir.c_str(), fs_name.c_str(), flags.entry_bytes,
      static_cast<unsigned long long>(flags.segment_mib), flags.zero_fill ? "yes" : "no",
      flags.rounds, flags.slice);
  if (fs_name == "tmpfs") std::printf("WARNING: tmpfs has no disk: fdatasync costs nothing\n");

  kvd::fs::PosixFileSystem fs;
  RawAppender raw(flags.dir);
  std::vector<std::unique_ptr<WalAppender>> wals;
  for (size_t batch : flags.batches)
    wals.push_back(std::make_unique<WalAppender>(flags, &fs, batch));
  Tally raw_tally;
  std::vector<Tally> wal_tallies(wals.size());
  for (int r = 0; r < flags.rounds; ++r) {
    Turn(flags.slice, raw_tally, [&] { raw.Append(); });
    for (size_t i = 0; i < wals.size(); ++i)
      Turn(flags.slice, wal_tallies[i], [&] { wals[i]->Save(); });
  }

  std::printf("raw fdatasync (append 256 B + fdatasync): %.0f/s, p50 %.0f us, p99 %.0f us\n\n",
              raw_tally.rate(), raw_tally.Percentile(0.5), raw_tally.Percentile(0.99));
  std::printf(
      "| entries/batch | Saves/s | entries/s | MiB/s | p50 us | p99 us | Saves/s / raw "
      "(median of rounds) |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < wals.size(); ++i) {
    Tally& t = wal_tallies[i];
    std::vector<double> ratios;
    for (int r = 0; r < flags.rounds; ++r) {
      ratios.push_back(t.per_round_rate[r] / raw_tally.per_round_rate[r]);
    }
    const double entries = t.rate() * static_cast<double>(flags.batches[i]);
    std::printf("| %zu | %.0f | %.0f | %.1f | %.0f | %.0f | %.2f |\n", flags.batches[i], t.rate(),
                entries, entries * static_cast<double>(flags.entry_bytes) / (1024.0 * 1024.0),
                t.Percentile(0.5), t.Percentile(0.99), Median(ratios));
  }
  return 0;
}
