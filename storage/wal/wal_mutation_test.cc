// Mutation test of the reader: a WAL written by a random workload is damaged at random (bit
// flips, garbage, lost sectors, truncation at every class of offset, bytes appended, segments
// removed, duplicated, swapped or renamed) and reopened. The reader must never crash (ASan and
// UBSan watch), never return a record that was not written, and either recover the log after
// some prefix of the operations or refuse with a clear error. A recovery it accepts must be
// stable (reopening finds the same log and nothing to repair) and writable.
//
// KVD_WAL_MUTATION_SEED replays a run; KVD_WAL_MUTATION_ITERATIONS sets the number of mutants.
#include <algorithm>
#include <map>
#include <random>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "storage/fs/fault_injecting_file_system.h"
#include "storage/wal/wal.h"
#include "storage/wal/wal_format.h"
#include "storage/wal/wal_workload.h"

namespace kvd::wal {
namespace {

using testing::LogModel;
using testing::WalOp;

constexpr char kDir[] = "/wal";

struct SegmentLayout {
  uint64_t data_end = 0;                // end of the last batch
  std::vector<uint64_t> frame_offsets;  // every frame, batch headers included
};

// A WAL written by a random workload: its files, the log after each operation, and where its
// frames are.
struct Specimen {
  WalOptions options;
  std::map<std::string, std::string> files;  // name -> content
  std::vector<LogModel> history;
  std::map<std::string, SegmentLayout> layout;
  std::string newest_with_data;
};

Specimen Write(uint64_t seed) {
  Specimen s;
  std::mt19937_64 rng(seed);
  s.options.segment_bytes = 2048 << (rng() % 2);
  s.options.prepare_segments_in_background = false;
  fs::FaultInjectingFileSystem fs;
  EXPECT_TRUE(fs.CreateDir(kDir).ok());
  absl::StatusOr<Wal::Opened> o = Wal::Open(&fs, kDir, s.options);
  EXPECT_TRUE(o.ok()) << o.status();
  testing::WorkloadShape shape;
  shape.max_entries_per_batch = 8;
  shape.max_entry_bytes = 200;
  shape.compaction_probability = 0.08;
  shape.install_probability = 0.03;
  shape.release_probability = 0.1;
  shape.unsynced_probability = 0.1;
  s.history.push_back(LogModel{});
  for (int i = 0; i < 70; ++i) {
    const WalOp op = testing::NextOp(rng, s.history.back(), shape);
    EXPECT_TRUE(testing::ApplyToWal(*o->wal, op).ok()) << op.ToString();
    if (op.kind == WalOp::Kind::kReleaseTo) continue;
    LogModel next = s.history.back();
    testing::ApplyToModel(next, op);
    s.history.push_back(std::move(next));
  }
  EXPECT_TRUE(o->wal->Close().ok());
  const std::vector<std::string> names = *fs.ListDir(kDir);
  for (const std::string& name : names) {
    const std::string bytes = *fs.ReadFile(fs::JoinPath(kDir, name));
    s.files[name] = bytes;
    SegmentLayout& l = s.layout[name];
    const uint32_t seed32 = SegmentSeed(*DecodeSegmentHeader(bytes));
    for (uint64_t off = kSegmentHeaderBytes;;) {
      const Frame f = ParseFrame(bytes, off, seed32);
      if (f.status != Frame::Status::kValid) break;
      l.frame_offsets.push_back(off);
      off += f.bytes;
      if (f.type == RecordType::kBatchHeader) continue;
      l.data_end = off;
    }
    if (l.data_end > 0) s.newest_with_data = name;  // names sort by seq
  }
  return s;
}

enum class Mutation {
  kBitFlip,
  kGarbage,
  kLostSectors,
  kTruncate,
  kAppendGarbage,
  kGarbageAfterData,
  kRemoveSegment,
  kDuplicateSegment,
  kSwapSegments,
  kRenameSegment,
};
constexpr int kMutationCount = 10;
const char* const kMutationNames[] = {"bit flips",        "garbage",
                                      "lost sectors",     "truncation",
                                      "appended garbage", "garbage after the data",
                                      "segment removed",  "segment duplicated",
                                      "segments swapped", "segment renamed"};

struct Mutant {
  std::map<std::string, std::string> files;
  std::string description;
  // Set when the damage is one that must be refused: a header, or data that later batches
  // prove was synced (any damage inside an older segment's data).
  bool must_refuse = false;
};

Mutant Mutate(const Specimen& s, Mutation m, std::mt19937_64& rng) {
  Mutant out{s.files, kMutationNames[static_cast<int>(m)], false};
  std::vector<std::string> names;
  for (const auto& [name, bytes] : out.files) names.push_back(name);
  const std::string name = names[rng() % names.size()];
  std::string& bytes = out.files[name];
  const SegmentLayout& layout = s.layout.at(name);
  auto random_byte = [&] { return static_cast<char>(rng()); };
  auto in_older_data = [&](uint64_t off) {
    return name < s.newest_with_data && off >= kSegmentHeaderBytes && off < layout.data_end;
  };
  switch (m) {
    case Mutation::kBitFlip: {
      const int flips = 1 + static_cast<int>(rng() % 3);
      for (int i = 0; i < flips; ++i) {
        const uint64_t off = rng() % bytes.size();
        bytes[off] ^= static_cast<char>(1 << (rng() % 8));
        if (flips == 1 && (off < kSegmentHeaderBytes || in_older_data(off))) {
          out.must_refuse = true;
        }
      }
      break;
    }
    case Mutation::kGarbage: {
      const uint64_t off = rng() % bytes.size();
      const uint64_t n = std::min<uint64_t>(1 + rng() % 600, bytes.size() - off);
      for (uint64_t i = 0; i < n; ++i) bytes[off + i] = random_byte();
      break;
    }
    case Mutation::kLostSectors: {
      const uint64_t sector = (rng() % (bytes.size() / 512)) * 512;
      const uint64_t n = std::min<uint64_t>(512 * (1 + rng() % 4), bytes.size() - sector);
      std::fill(bytes.begin() + static_cast<ptrdiff_t>(sector),
                bytes.begin() + static_cast<ptrdiff_t>(sector + n), '\0');
      break;
    }
    case Mutation::kTruncate: {
      // A frame boundary, a few bytes either side of one, inside the header, or anywhere.
      uint64_t off;
      switch (rng() % 4) {
        case 0:
        case 1:
          if (!layout.frame_offsets.empty()) {
            off = layout.frame_offsets[rng() % layout.frame_offsets.size()];
            off += (rng() % 2 ? 1 : -1) * static_cast<int64_t>(rng() % 12);
            break;
          }
          [[fallthrough]];
        case 2:
          off = rng() % (kSegmentHeaderBytes + 1);
          break;
        default:
          off = rng() % (bytes.size() + 1);
      }
      bytes.resize(std::min<uint64_t>(off, bytes.size()));
      break;
    }
    case Mutation::kAppendGarbage: {
      const uint64_t n = 1 + rng() % 2000;
      for (uint64_t i = 0; i < n; ++i) bytes.push_back(random_byte());
      break;
    }
    case Mutation::kGarbageAfterData: {
      std::string& last = out.files[s.newest_with_data];
      const uint64_t from = s.layout.at(s.newest_with_data).data_end;
      if (from >= last.size()) break;
      const uint64_t off = from + rng() % std::min<uint64_t>(64, last.size() - from);
      const uint64_t n = std::min<uint64_t>(1 + rng() % 300, last.size() - off);
      for (uint64_t i = 0; i < n; ++i) last[off + i] = random_byte();
      break;
    }
    case Mutation::kRemoveSegment:
      out.files.erase(name);
      break;
    case Mutation::kDuplicateSegment: {
      const std::string& other = names[rng() % names.size()];
      if (rng() % 2) {
        out.files[other] = s.files.at(name);
      } else {
        out.files[SegmentFileName(*ParseSegmentFileName(names.back()) + 1)] = s.files.at(name);
      }
      break;
    }
    case Mutation::kSwapSegments: {
      const std::string& other = names[rng() % names.size()];
      std::swap(out.files[name], out.files[other]);
      break;
    }
    case Mutation::kRenameSegment: {
      std::string moved = std::move(bytes);
      out.files.erase(name);
      out.files[SegmentFileName(*ParseSegmentFileName(names.back()) + 1 + rng() % 2)] =
          std::move(moved);
      break;
    }
  }
  return out;
}

TEST(WalMutationTest, DamagedWalsRecoverAPrefixOrAreRefused) {
  const uint64_t seed = testing::SeedFromEnv("KVD_WAL_MUTATION_SEED");
  const int iterations = testing::CountFromEnv("KVD_WAL_MUTATION_ITERATIONS", 4000);
  std::mt19937_64 rng(seed);
  std::vector<Specimen> specimens;
  // Released segments can leave a workload on fewer than three; those are drawn again (the
  // draws come from the seed, so a replay sees the same specimens).
  for (int draws = 0; specimens.size() < 4; ++draws) {
    ASSERT_LT(draws, 100) << "the workload should span several segments";
    Specimen s = Write(rng());
    if (s.files.size() >= 3) specimens.push_back(std::move(s));
  }

  int recovered[kMutationCount] = {}, refused[kMutationCount] = {};
  for (int it = 0; it < iterations; ++it) {
    const Specimen& s = specimens[rng() % specimens.size()];
    const auto m = static_cast<Mutation>(rng() % kMutationCount);
    const Mutant mutant = Mutate(s, m, rng);
    SCOPED_TRACE("mutant " + std::to_string(it) + ": " + mutant.description);

    fs::FaultInjectingFileSystem fs;
    ASSERT_TRUE(fs.CreateDir(kDir).ok());
    for (const auto& [name, bytes] : mutant.files)
      fs.PutDurableFile(fs::JoinPath(kDir, name), bytes);
    WalOptions options = s.options;
    options.create_if_missing = false;
    absl::StatusOr<Wal::Opened> o = Wal::Open(&fs, kDir, options);
    if (!o.ok()) {
      ++refused[static_cast<int>(m)];
      const absl::StatusCode c = o.status().code();
      EXPECT_TRUE(c == absl::StatusCode::kDataLoss || c == absl::StatusCode::kFailedPrecondition ||
                  c == absl::StatusCode::kNotFound)
          << o.status();
      EXPECT_TRUE(absl::StartsWith(o.status().message(), "wal: ")) << o.status();
      EXPECT_TRUE(absl::StrContains(o.status().message(), kDir)) << o.status();
      continue;
    }
    ++recovered[static_cast<int>(m)];
    EXPECT_FALSE(mutant.must_refuse) << "damage to a header or to synced data was accepted";
    const LogModel got = testing::ModelOf(o->log);
    const bool is_prefix = std::find(s.history.begin(), s.history.end(), got) != s.history.end();
    ASSERT_TRUE(is_prefix) << "recovered a log that was never written: " << testing::Describe(got);

    // Stable and writable.
    o->wal.reset();
    absl::StatusOr<Wal::Opened> again = Wal::Open(&fs, kDir, options);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(testing::ModelOf(again->log), got);
    EXPECT_TRUE(again->log.notices.empty()) << again->log.notices.front();
    testing::WorkloadShape shape;
    shape.install_probability = 0;
    const WalOp op = testing::NextOp(rng, got, shape);
    ASSERT_TRUE(testing::ApplyToWal(*again->wal, op).ok()) << op.ToString();
    LogModel next = got;
    testing::ApplyToModel(next, op);
    again->wal.reset();
    absl::StatusOr<Wal::Opened> third = Wal::Open(&fs, kDir, options);
    ASSERT_TRUE(third.ok()) << third.status();
    EXPECT_EQ(testing::ModelOf(third->log), next);
  }
  for (int m = 0; m < kMutationCount; ++m) {
    std::cout << kMutationNames[m] << ": " << recovered[m] << " recovered a prefix, " << refused[m]
              << " refused\n";
  }
}

}  // namespace
}  // namespace kvd::wal
