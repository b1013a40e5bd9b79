// Each recovery rule of wal.h, on segments damaged by hand: torn tails are cut off with a notice,
// corruption refuses with the file and byte offset, missing segments and foreign versions
// refuse.
#include <cstring>
#include <functional>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/crc32c.h"
#include "storage/fs/fault_injecting_file_system.h"
#include "storage/wal/segment_preparer.h"
#include "storage/wal/wal.h"
#include "storage/wal/wal_format.h"
#include "storage/wal/wal_workload.h"

namespace kvd::wal {
namespace {

using testing::LogModel;
using testing::MakeEntries;

constexpr char kDir[] = "/data/wal";

bool IsZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

struct BatchAt {
  uint64_t offset = 0;
  uint64_t bytes = 0;
  uint64_t seq = 0;
  std::vector<uint64_t> record_offsets;  // frames after the batch header
};

// The batches of a segment, found by walking its frames.
std::vector<BatchAt> BatchesOf(const std::string& segment) {
  const absl::StatusOr<SegmentHeader> h = DecodeSegmentHeader(segment);
  EXPECT_TRUE(h.ok()) << h.status();
  const uint32_t seed = SegmentSeed(*h);
  std::vector<BatchAt> out;
  uint64_t off = kSegmentHeaderBytes;
  while (true) {
    const Frame f = ParseFrame(segment, off, seed);
    if (f.status != Frame::Status::kValid) break;
    const BatchHeader bh = *DecodeBatchHeader(f.payload);
    BatchAt b{off, bh.batch_bytes, bh.seq, {}};
    for (uint64_t r = off + f.bytes; r < off + bh.batch_bytes;) {
      b.record_offsets.push_back(r);
      r += ParseFrame(segment, r, seed).bytes;
    }
    out.push_back(b);
    off += bh.batch_bytes;
  }
  return out;
}

class RecoveryTest : public ::testing::Test {
 protected:
  RecoveryTest() {
    options_.segment_bytes = 4096;
    options_.prepare_segments_in_background = false;
    EXPECT_TRUE(fs_.CreateDir(kDir).ok());
  }

  std::string Path(uint64_t seq) const { return fs::JoinPath(kDir, SegmentFileName(seq)); }
  std::string Read(uint64_t seq) { return *fs_.ReadFile(Path(seq)); }
  void Write(uint64_t seq, std::string bytes) { fs_.PutDurableFile(Path(seq), std::move(bytes)); }

  // Saves `batches` batches of 3 entries each (synced), remembering the model after each.
  void Build(int batches, bool sync = true) {
    absl::StatusOr<Wal::Opened> o = Wal::Open(&fs_, kDir, options_);
    ASSERT_TRUE(o.ok()) << o.status();
    models_.push_back(LogModel{});
    for (int i = 0; i < batches; ++i) {
      testing::WalOp op;
      op.first = static_cast<raft::Index>(3 * i + 1);
      op.count = 3;
      op.entry_term = 1;
      op.max_bytes = 200;
      op.has_hard_state = true;
      op.hard_state = raft::HardState{.term = 1, .vote = 1, .commit = op.first - 1};
      op.sync = sync;
      ASSERT_TRUE(testing::ApplyToWal(*o->wal, op).ok());
      LogModel m = models_.back();
      testing::ApplyToModel(m, op);
      models_.push_back(m);
    }
    ASSERT_TRUE(o->wal->Close().ok() || !sync);
  }

  absl::StatusOr<Wal::Opened> Reopen() { return Wal::Open(&fs_, kDir, options_); }

  // Reopens, expects success with the model after `batches` batches, and returns the notices.
  std::vector<std::string> ExpectRecovered(size_t batches) {
    absl::StatusOr<Wal::Opened> o = Reopen();
    EXPECT_TRUE(o.ok()) << o.status();
    if (!o.ok()) return {};
    EXPECT_EQ(testing::ModelOf(o->log), models_[batches])
        << "recovered " << testing::Describe(testing::ModelOf(o->log)) << "\nexpected  "
        << testing::Describe(models_[batches]);
    return o->log.notices;
  }

  // Reopens and expects DataLoss naming the file of segment seq and the byte offset.
  void ExpectCorruptAt(uint64_t seq, uint64_t offset) {
    absl::StatusOr<Wal::Opened> o = Reopen();
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.status().code(), absl::StatusCode::kDataLoss) << o.status();
    EXPECT_TRUE(absl::StrContains(o.status().message(),
                                  absl::StrCat(Path(seq), " at byte offset ", offset, ":")))
        << o.status();
  }

  fs::FaultInjectingFileSystem fs_;
  WalOptions options_;
  std::vector<LogModel> models_;  // models_[k]: after the first k batches
};

TEST_F(RecoveryTest, CleanEndNeedsNoRepair) {
  Build(20);
  EXPECT_TRUE(ExpectRecovered(20).empty());
  EXPECT_TRUE(ExpectRecovered(20).empty());
}

TEST_F(RecoveryTest, TornTailWithZeroedSectorsIsCutOff) {
  Build(4);
  std::string seg = Read(1);
  const std::vector<BatchAt> batches = BatchesOf(seg);
  ASSERT_EQ(batches.size(), 5u);  // the opening batch and four
  const BatchAt& last = batches.back();
  // The second half of the last batch never reached the disk.
  const uint64_t from = last.offset + last.bytes / 2;
  std::memset(seg.data() + from, 0, last.offset + last.bytes - from);
  Write(1, seg);
  const std::vector<std::string> notices = ExpectRecovered(3);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_TRUE(absl::StrContains(notices[0], Path(1))) << notices[0];
  EXPECT_TRUE(absl::StrContains(notices[0], absl::StrCat("bytes [", last.offset, ", ")))
      << notices[0];
  // Repaired: the next open is clean, and the WAL appends where the torn batch was.
  EXPECT_TRUE(ExpectRecovered(3).empty());
  EXPECT_TRUE(IsZero(Read(1).substr(last.offset)));
}

TEST_F(RecoveryTest, TornTailVariantsAreCutOff) {
  Build(4);
  const std::string good = Read(1);
  const std::vector<BatchAt> batches = BatchesOf(good);
  const BatchAt& last = batches.back();
  struct Variant {
    const char* name;
    std::function<void(std::string&)> damage;
  };
  std::mt19937_64 rng(3);
  const std::vector<Variant> variants = {
      {"batch header zeroed", [&](std::string& s) { std::memset(s.data() + last.offset, 0, 12); }},
      {"partial header",
       [&](std::string& s) { std::memset(s.data() + last.offset + 6, 0, last.bytes - 6); }},
      {"last record cut",
       [&](std::string& s) {
         const uint64_t r = last.record_offsets.back() + 5;
         std::memset(s.data() + r, 0, last.offset + last.bytes - r);
       }},
      {"garbage in the last batch",
       [&](std::string& s) {
         for (uint64_t i = last.offset + 20; i < last.offset + last.bytes; ++i) {
           s[i] = static_cast<char>(rng());
         }
       }},
      {"garbage after the last batch",
       [&](std::string& s) {
         for (uint64_t i = 0; i < 300; ++i)
           s[last.offset + last.bytes + i] = static_cast<char>(rng());
       }},
      {"file cut short in the last batch",
       [&](std::string& s) { s.resize(last.offset + last.bytes - 9); }},
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.name);
    std::string seg = good;
    v.damage(seg);
    Write(1, seg);
    const size_t expect = std::string_view(v.name) == "garbage after the last batch" ? 4 : 3;
    const std::vector<std::string> notices = ExpectRecovered(expect);
    ASSERT_EQ(notices.size(), 1u);
    EXPECT_TRUE(absl::StrContains(notices[0], "torn write")) << notices[0];
    EXPECT_TRUE(ExpectRecovered(expect).empty());
  }
}

// Pages of unsynced writes may reach the disk in any order: a lost early page followed by later
// pages that made it is still a torn write, because no later batch says the early one was synced.
TEST_F(RecoveryTest, OutOfOrderTornWriteOfUnsyncedBatchesIsCutOff) {
  Build(2);
  {
    absl::StatusOr<Wal::Opened> o = Reopen();
    ASSERT_TRUE(o.ok());
    for (int i = 0; i < 3; ++i) {
      const std::vector<raft::Entry> e = MakeEntries(7 + 3 * i, 3, 1, 200);
      ASSERT_TRUE(
          o->wal->Save({.snapshot = nullptr, .entries = e, .hard_state = nullptr, .sync = false})
              .ok());
    }
  }
  std::string seg = Read(1);
  const std::vector<BatchAt> batches = BatchesOf(seg);
  ASSERT_EQ(batches.size(), 6u);
  const BatchAt& first_unsynced = batches[3];
  std::memset(seg.data() + first_unsynced.offset, 0, 16);
  Write(1, seg);
  const std::vector<std::string> notices = ExpectRecovered(2);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_TRUE(absl::StrContains(notices[0], absl::StrCat("bytes [", first_unsynced.offset, ", ")))
      << notices[0];
}

// The limit in wal.h, exactly: a synced batch after unsynced ones names only what was synced
// before it, so damage to one of those unsynced batches is cut as a torn write and takes the
// acknowledged, intact batch after it along (the notice says so). Once a later batch names
// the synced one, the same damage is corruption.
class UnprovenTailTest : public RecoveryTest {
 protected:
  // Build(2), then two batches saved without sync and one with (the acknowledged one), and
  // `more` synced batches after it. Flips a bit in an entry of the first unsynced batch.
  // Returns the segment's batches before the damage.
  std::vector<BatchAt> SaveAndDamage(int more) {
    Build(2);
    absl::StatusOr<Wal::Opened> o = Reopen();
    EXPECT_TRUE(o.ok()) << o.status();
    if (!o.ok()) return {};
    for (int i = 0; i < 3 + more; ++i) {
      const std::vector<raft::Entry> e = MakeEntries(7 + 3 * i, 3, 1, 200);
      EXPECT_TRUE(
          o->wal->Save({.snapshot = nullptr, .entries = e, .hard_state = nullptr, .sync = i >= 2})
              .ok());
    }
    o->wal.reset();
    std::string seg = Read(1);
    const std::vector<BatchAt> batches = BatchesOf(seg);
    EXPECT_EQ(batches.size(), static_cast<size_t>(6 + more));  // opening, 2 synced, 3 + more
    damaged_record_ = batches[3].record_offsets[1];
    seg[damaged_record_ + 14] ^= 0x20;  // bit rot after the fact, not a torn write
    Write(1, seg);
    return batches;
  }

  uint64_t damaged_record_ = 0;
};

TEST_F(UnprovenTailTest, DamageBeforeTheNewestSyncedBatchIsCutWithIt) {
  const std::vector<BatchAt> batches = SaveAndDamage(0);
  ASSERT_EQ(batches.size(), 6u);
  const std::vector<std::string> notices = ExpectRecovered(2);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_TRUE(absl::StrContains(notices[0], absl::StrCat("bytes [", batches[3].offset, ", ")))
      << notices[0];
  EXPECT_TRUE(
      absl::StrContains(notices[0], absl::StrCat("2 batches after it (seq ", batches[4].seq, " to ",
                                                 batches[5].seq, ") verified and went with it")))
      << notices[0];
  EXPECT_TRUE(absl::StrContains(
      notices[0], absl::StrCat("batch ", batches[5].seq, " may have been acknowledged")))
      << notices[0];
}

TEST_F(UnprovenTailTest, OnceALaterBatchNamesItSyncedTheSameDamageIsCorruption) {
  ASSERT_EQ(SaveAndDamage(1).size(), 7u);
  ExpectCorruptAt(1, damaged_record_);
}

TEST_F(RecoveryTest, DamageFollowedByProofOfSyncIsCorruption) {
  Build(6);
  std::string seg = Read(1);
  const std::vector<BatchAt> batches = BatchesOf(seg);
  const BatchAt& victim = batches[3];
  const uint64_t record = victim.record_offsets[1];
  seg[record + 14] ^= 0x20;  // one bit in an entry's payload
  Write(1, seg);
  ExpectCorruptAt(1, record);
  // The same damage as zeros (a lost sector) is no different: batches after it were synced.
  seg = Read(1);
  seg[record + 14] ^= 0x20;
  std::memset(seg.data() + victim.offset, 0, victim.bytes);
  Write(1, seg);
  ExpectCorruptAt(1, victim.offset);
}

TEST_F(RecoveryTest, DamageInAnOlderSegmentIsCorruption) {
  Build(40);
  ASSERT_TRUE(fs_.Exists(Path(3)));
  std::string seg = Read(1);
  const std::vector<BatchAt> batches = BatchesOf(seg);
  const BatchAt& last = batches.back();
  // Even the last batch of an older segment: the next segment proves it was synced.
  seg[last.record_offsets.back() + 20] ^= 1;
  Write(1, seg);
  ExpectCorruptAt(1, last.record_offsets.back());
}

TEST_F(RecoveryTest, TornOpeningBatchOfTheNewestSegmentLeavesItAsTheSpare) {
  Build(40);
  uint64_t current = 1;
  while (fs_.Exists(Path(current + 1))) ++current;
  if (BatchesOf(Read(current)).empty()) {  // a prepared spare: it would not exist yet
    ASSERT_TRUE(fs_.Remove(Path(current)).ok());
    --current;
  }
  const std::vector<BatchAt> batches = BatchesOf(Read(current));
  ASSERT_GE(batches.size(), 2u);
  // Make the current segment's opening write torn: zero everything after its header.
  std::string seg = Read(current);
  std::memset(seg.data() + kSegmentHeaderBytes, 0, seg.size() - kSegmentHeaderBytes);
  seg[batches[1].offset + 40] = 7;  // and a stray byte of the torn write that did land
  Write(current, seg);
  const size_t lost = batches.size() - 1;  // user batches in that segment (plus its opening one)
  const std::vector<std::string> notices = ExpectRecovered(40 - lost);
  ASSERT_EQ(notices.size(), 1u);
  absl::StatusOr<Wal::Opened> o = Reopen();
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->wal->SegmentSeqs().back(), current - 1);
  // The repaired segment is the next one used.
  raft::Index next = models_[40 - lost].last_index() + 1;
  while (o->wal->SegmentSeqs().back() == current - 1 && !HasFatalFailure()) {
    const std::vector<raft::Entry> e = MakeEntries(next, 3, 1, 200);
    ASSERT_TRUE(o->wal->Save(nullptr, e).ok());
    next += 3;
  }
  EXPECT_EQ(o->wal->SegmentSeqs().back(), current);
}

TEST_F(RecoveryTest, AValidRecordThatBreaksTheRulesIsCorruption) {
  Build(3);
  std::string seg = Read(1);
  const std::vector<BatchAt> batches = BatchesOf(seg);
  const uint64_t end = batches.back().offset + batches.back().bytes;
  // A well-formed batch, checksums and all, whose entry leaves a gap.
  std::string extra;
  FrameWriter w(&extra, SegmentSeed(*DecodeSegmentHeader(seg)));
  BatchHeader h{.seq = batches.back().seq + 1,
                .synced_seq = batches.back().seq,
                .record_count = 1,
                .batch_bytes = 0};
  const size_t at = w.AppendBatchHeader(h);
  w.AppendEntry(testing::MakeEntry(50, 1));
  h.batch_bytes = extra.size();
  w.PatchBatchHeader(at, h);
  seg.replace(end, extra.size(), extra);
  Write(1, seg);
  absl::StatusOr<Wal::Opened> o = Reopen();
  ASSERT_EQ(o.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(o.status().message(), "would leave a gap")) << o.status();
  EXPECT_TRUE(absl::StrContains(o.status().message(), absl::StrCat("at byte offset ", end)))
      << o.status();
}

TEST_F(RecoveryTest, UnknownRecordTypeIsCorruption) {
  Build(2);
  std::string seg = Read(1);
  const std::vector<BatchAt> batches = BatchesOf(seg);
  const uint64_t r = batches.back().record_offsets[0];
  seg[r + 8] = 9;
  const uint32_t seed = SegmentSeed(*DecodeSegmentHeader(seg));
  const uint64_t len = 17 + testing::EntryData(4, 1, 200).size();
  const uint32_t crc =
      storage::Crc32c(seed, std::string_view(seg).substr(r + 4, FrameBytes(len) - 4));
  std::memcpy(seg.data() + r, &crc, 4);
  Write(1, seg);
  absl::StatusOr<Wal::Opened> o = Reopen();
  ASSERT_EQ(o.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(o.status().message(), "record type 9 is unknown")) << o.status();
}

TEST_F(RecoveryTest, MissingMiddleSegmentIsAnError) {
  Build(40);
  ASSERT_TRUE(fs_.Exists(Path(3)));
  ASSERT_TRUE(fs_.Remove(Path(2)).ok());
  absl::StatusOr<Wal::Opened> o = Reopen();
  ASSERT_EQ(o.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(
      absl::StrContains(o.status().message(), absl::StrCat("segment ", Path(2), " is missing")))
      << o.status();
}

TEST_F(RecoveryTest, MissingOldestSegmentIsAnError) {
  Build(40);
  ASSERT_TRUE(fs_.Remove(Path(1)).ok());
  absl::StatusOr<Wal::Opened> o = Reopen();
  ASSERT_EQ(o.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(o.status().message(), "entries 1 to ")) << o.status();
  EXPECT_TRUE(absl::StrContains(o.status().message(), "are missing")) << o.status();
}

TEST_F(RecoveryTest, OnlyTheSpareLeftIsAnError) {
  Build(40);
  uint64_t newest = 1;
  while (fs_.Exists(Path(newest + 1))) ++newest;
  const SegmentSpec spec{.wal_id = DecodeSegmentHeader(Read(1))->wal_id,
                         .segment_bytes = options_.segment_bytes,
                         .zero_fill = true};
  if (!BatchesOf(Read(newest)).empty()) {
    ASSERT_TRUE(PrepareSegment(fs_, kDir, spec, ++newest).ok());
  }
  for (uint64_t seq = 1; seq < newest; ++seq) ASSERT_TRUE(fs_.Remove(Path(seq)).ok());
  absl::StatusOr<Wal::Opened> o = Reopen();
  ASSERT_EQ(o.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(o.status().message(), "are missing")) << o.status();
}

TEST_F(RecoveryTest, SegmentFromAnotherFormatVersionIsRefused) {
  Build(40);
  std::string seg = Read(2);
  const uint32_t version = 2;
  std::memcpy(seg.data() + 8, &version, 4);
  const uint32_t crc = storage::Crc32c(std::string_view(seg).substr(0, 32));
  std::memcpy(seg.data() + 32, &crc, 4);
  Write(2, seg);
  absl::StatusOr<Wal::Opened> o = Reopen();
  ASSERT_EQ(o.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(o.status().message(),
            absl::StrCat("wal: segment ", Path(2),
                         ": written by WAL format version 2; this kvd reads version 1"));
}

TEST_F(RecoveryTest, DamagedHeaderIsCorruption) {
  Build(40);
  std::string seg = Read(2);
  seg[0] = 'k';
  Write(2, seg);
  absl::StatusOr<Wal::Opened> o = Reopen();
  ASSERT_EQ(o.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(o.status().message(), Path(2))) << o.status();
  EXPECT_TRUE(absl::StrContains(o.status().message(), "bad magic")) << o.status();
}

TEST_F(RecoveryTest, ShuffledOrDuplicatedSegmentsAreCorruption) {
  Build(40);
  const std::string two = Read(2);
  const std::string three = Read(3);
  Write(2, three);
  Write(3, two);
  ExpectCorruptAt(2, 16);
  Write(2, two);
  Write(3, two);  // a copy of segment 2 where 3 belongs
  ExpectCorruptAt(3, 16);
}

TEST_F(RecoveryTest, SegmentOfAnotherWalIsCorruption) {
  Build(40);
  fs::FaultInjectingFileSystem other_fs;
  ASSERT_TRUE(other_fs.CreateDir(kDir).ok());
  {
    absl::StatusOr<Wal::Opened> o = Wal::Open(&other_fs, kDir, options_);
    ASSERT_TRUE(o.ok());
    for (raft::Index i = 1; o->wal->SegmentSeqs().size() < 2; i += 5) {
      ASSERT_TRUE(o->wal->Save(nullptr, MakeEntries(i, 5, 1, 300)).ok());
    }
  }
  Write(2, *other_fs.ReadFile(Path(2)));
  ExpectCorruptAt(2, 24);
}

TEST_F(RecoveryTest, LeftoverTempFileIsRemovedWithANotice) {
  Build(3);
  fs_.PutDurableFile(Path(9) + ".tmp", "half-prepared");
  const std::vector<std::string> notices = ExpectRecovered(3);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_TRUE(absl::StrContains(notices[0], "interrupted segment preparation")) << notices[0];
  EXPECT_FALSE(fs_.Exists(Path(9) + ".tmp"));
}

TEST_F(RecoveryTest, UnexpectedWalFileIsRefused) {
  Build(3);
  fs_.PutDurableFile(fs::JoinPath(kDir, "backup.wal"), "x");
  absl::StatusOr<Wal::Opened> o = Reopen();
  ASSERT_EQ(o.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(o.status().message(), "backup.wal")) << o.status();
}

}  // namespace
}  // namespace kvd::wal
