#include "storage/wal/wal_format.h"

#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "storage/crc32c.h"

namespace kvd::wal {
namespace {

constexpr uint32_t kSeed = 0x12345678;

TEST(SegmentFileNameTest, RoundTripsAndRejectsOtherNames) {
  EXPECT_EQ(SegmentFileName(1), "0000000000000001.wal");
  EXPECT_EQ(SegmentFileName(0xabcdef), "0000000000abcdef.wal");
  EXPECT_EQ(ParseSegmentFileName("0000000000abcdef.wal"), 0xabcdefu);
  EXPECT_EQ(ParseSegmentFileName(SegmentFileName(~uint64_t{0})), ~uint64_t{0});
  for (const char* bad : {"0000000000ABCDEF.wal", "000000000000001.wal", "00000000000000001.wal",
                          "0000000000000001.wal.tmp", "000000000000000g.wal", "x.wal", ""}) {
    EXPECT_FALSE(ParseSegmentFileName(bad).has_value()) << bad;
  }
}

TEST(SegmentHeaderTest, RoundTrips) {
  const SegmentHeader h{.seq = 42, .wal_id = 0xfeedface12345678};
  const std::string bytes = EncodeSegmentHeader(h);
  ASSERT_EQ(bytes.size(), kSegmentHeaderBytes);
  EXPECT_EQ(bytes.substr(0, 8), "KVDWAL\r\n");
  absl::StatusOr<SegmentHeader> back = DecodeSegmentHeader(bytes + std::string(100, 'x'));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, h);
}

TEST(SegmentHeaderTest, RejectsDamageAndOtherVersions) {
  const std::string good = EncodeSegmentHeader({.seq = 3, .wal_id = 9});
  EXPECT_EQ(DecodeSegmentHeader(good.substr(0, 63)).status().code(), absl::StatusCode::kDataLoss);

  std::string magic = good;
  magic[0] = 'X';
  EXPECT_EQ(DecodeSegmentHeader(magic).status().code(), absl::StatusCode::kDataLoss);

  std::string flipped = good;
  flipped[20] ^= 1;  // in the seq
  EXPECT_EQ(DecodeSegmentHeader(flipped).status().code(), absl::StatusCode::kDataLoss);

  std::string reserved = good;
  reserved[40] = 1;
  EXPECT_EQ(DecodeSegmentHeader(reserved).status().code(), absl::StatusCode::kDataLoss);

  // A header a future version wrote, checksum and all.
  std::string v2 = good;
  const uint32_t two = 2;
  std::memcpy(v2.data() + 8, &two, 4);
  const uint32_t crc = storage::Crc32c(std::string_view(v2).substr(0, 32));
  std::memcpy(v2.data() + 32, &crc, 4);
  absl::Status s = DecodeSegmentHeader(v2).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "written by WAL format version 2; this kvd reads version 1");
}

TEST(SegmentSeedTest, DependsOnWalAndSeq) {
  const uint32_t a = SegmentSeed({.seq = 1, .wal_id = 7});
  EXPECT_NE(a, SegmentSeed({.seq = 2, .wal_id = 7}));
  EXPECT_NE(a, SegmentSeed({.seq = 1, .wal_id = 8}));
  EXPECT_EQ(a, SegmentSeed({.seq = 1, .wal_id = 7}));
}

// Parses the single frame in `buf` and checks it is valid and fills it exactly.
Frame ParseOnly(const std::string& buf) {
  Frame f = ParseFrame(buf, 0, kSeed);
  EXPECT_EQ(f.status, Frame::Status::kValid) << f.problem;
  EXPECT_EQ(f.bytes, buf.size());
  EXPECT_EQ(buf.size() % kFrameAlignment, 0u);
  return f;
}

TEST(RecordTest, BatchHeaderRoundTripsAndPatches) {
  std::string buf;
  FrameWriter w(&buf, kSeed);
  const size_t at = w.AppendBatchHeader(BatchHeader{});
  const BatchHeader h{.seq = 77, .synced_seq = 76, .record_count = 5, .batch_bytes = 4096};
  w.PatchBatchHeader(at, h);
  Frame f = ParseOnly(buf);
  ASSERT_EQ(f.type, RecordType::kBatchHeader);
  EXPECT_EQ(*DecodeBatchHeader(f.payload), h);
}

TEST(RecordTest, SegmentStartRoundTrips) {
  std::string buf;
  FrameWriter(&buf, kSeed).AppendSegmentStart(123456789);
  Frame f = ParseOnly(buf);
  ASSERT_EQ(f.type, RecordType::kSegmentStart);
  EXPECT_EQ(*DecodeSegmentStart(f.payload), 123456789u);
}

TEST(RecordTest, EntryRoundTripsForEveryTypeAndSize) {
  for (raft::EntryType type : {raft::EntryType::kNormal, raft::EntryType::kConfChange}) {
    for (size_t size : {0, 1, 7, 8, 9, 255, 256, 4096}) {
      raft::Entry e{.term = 5, .index = 99, .type = type, .data = std::string(size, 'z')};
      if (size > 0) e.data[0] = '\0';
      std::string buf;
      FrameWriter(&buf, kSeed).AppendEntry(e);
      Frame f = ParseOnly(buf);
      ASSERT_EQ(f.type, RecordType::kEntry);
      absl::StatusOr<raft::Entry> back = DecodeEntry(f.payload);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(*back, e);
    }
  }
}

TEST(RecordTest, HardStateRoundTrips) {
  const raft::HardState hs{.term = 9, .vote = 3, .commit = 1000};
  std::string buf;
  FrameWriter(&buf, kSeed).AppendHardState(hs);
  Frame f = ParseOnly(buf);
  ASSERT_EQ(f.type, RecordType::kHardState);
  EXPECT_EQ(*DecodeHardState(f.payload), hs);
}

TEST(RecordTest, SnapshotRoundTripsForBothKinds) {
  for (SnapshotKind kind : {SnapshotKind::kCompaction, SnapshotKind::kInstall}) {
    const SnapshotRecord s{
        .kind = kind,
        .metadata = {.conf_state = {.voters = {1, 2, 3}, .learners = {7}}, .index = 50, .term = 4}};
    std::string buf;
    FrameWriter(&buf, kSeed).AppendSnapshot(s);
    Frame f = ParseOnly(buf);
    ASSERT_EQ(f.type, RecordType::kSnapshot);
    EXPECT_EQ(*DecodeSnapshot(f.payload), s);
  }
  SnapshotRecord empty_members;
  empty_members.metadata.index = 1;
  empty_members.metadata.term = 1;
  std::string buf;
  FrameWriter(&buf, kSeed).AppendSnapshot(empty_members);
  EXPECT_EQ(*DecodeSnapshot(ParseOnly(buf).payload), empty_members);
}

// Every single-bit flip anywhere in a frame is caught; so are the wrong seed, zeros and cuts.
TEST(FrameTest, DetectsEveryBitFlipWrongSeedAndCuts) {
  std::string buf;
  FrameWriter(&buf, kSeed)
      .AppendEntry({.term = 2, .index = 3, .type = raft::EntryType::kNormal, .data = "hello, wal"});
  for (size_t bit = 0; bit < buf.size() * 8; ++bit) {
    std::string bad = buf;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    const Frame f = ParseFrame(bad, 0, kSeed);
    EXPECT_NE(f.status, Frame::Status::kValid) << "bit " << bit;
  }
  EXPECT_EQ(ParseFrame(buf, 0, kSeed + 1).status, Frame::Status::kBad);
  for (size_t cut = 1; cut < buf.size(); ++cut) {
    EXPECT_EQ(ParseFrame(buf.substr(0, cut), 0, kSeed).status, Frame::Status::kBad) << cut;
  }
  EXPECT_EQ(ParseFrame(std::string(64, '\0'), 0, kSeed).status, Frame::Status::kZero);
  EXPECT_EQ(ParseFrame(std::string(5, '\0'), 0, kSeed).status, Frame::Status::kZero);
  EXPECT_EQ(ParseFrame("", 0, kSeed).status, Frame::Status::kZero);
  EXPECT_EQ(ParseFrame(buf, buf.size() + 8, kSeed).status, Frame::Status::kBad);
}

TEST(FrameTest, HugeLengthDoesNotReadPastTheEnd) {
  std::string buf(16, '\0');
  const uint32_t len = 0xFFFFFFF0;
  std::memcpy(buf.data() + 4, &len, 4);
  buf[8] = 3;
  Frame f = ParseFrame(buf, 0, kSeed);
  EXPECT_EQ(f.status, Frame::Status::kBad);
  EXPECT_NE(f.problem.find("runs past the end"), std::string::npos) << f.problem;
}

TEST(FrameTest, UnknownTypeWithGoodChecksumIsReportedAsValid) {
  std::string buf;
  FrameWriter(&buf, kSeed).AppendHardState({.term = 1, .vote = 0, .commit = 0});
  buf[8] = 42;  // a type from the future; fix the checksum so it verifies
  const uint32_t crc = storage::Crc32c(kSeed, std::string_view(buf).substr(4));
  std::memcpy(buf.data(), &crc, 4);
  Frame f = ParseFrame(buf, 0, kSeed);
  EXPECT_EQ(f.status, Frame::Status::kValid);
  EXPECT_EQ(static_cast<int>(f.type), 42);
}

TEST(DecodeTest, RejectsMalformedPayloads) {
  EXPECT_FALSE(DecodeBatchHeader(std::string(31, '\0')).ok());
  EXPECT_FALSE(DecodeSegmentStart(std::string(9, '\0')).ok());
  EXPECT_FALSE(DecodeEntry(std::string(16, '\0')).ok());
  std::string entry(17, '\0');
  entry[16] = 2;  // entry type 2 does not exist
  EXPECT_FALSE(DecodeEntry(entry).ok());
  EXPECT_FALSE(DecodeHardState(std::string(23, '\0')).ok());
  EXPECT_FALSE(DecodeSnapshot(std::string(31, '\0')).ok());
  std::string snap(32, '\0');
  snap[0] = 1;
  snap[4] = 1;  // one voter, but no member bytes follow
  EXPECT_FALSE(DecodeSnapshot(snap).ok());
  snap[4] = 0;
  snap[0] = 3;  // unknown kind
  EXPECT_FALSE(DecodeSnapshot(snap).ok());
}

}  // namespace
}  // namespace kvd::wal
