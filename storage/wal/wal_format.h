// The kvd WAL on disk: FORMAT VERSION 1.
//
// A WAL is one directory of segment files named <seq>.wal, seq a 16-digit lowercase hex number;
// the segments present have consecutive seqs (older ones are removed once a snapshot covers
// them). All integers are little-endian.
//
// SEGMENT FILE
//   [0, 64)     segment header
//   [64, ...)   batches, back to back, then zero bytes to the end of the file. A segment is
//               preallocated (and zero-filled) to the segment size before it gets its name, so
//               everything past the last batch reads as zeros.
//
// SEGMENT HEADER (64 bytes; written, synced and only then renamed into place, so a segment under
// its final name always has a complete header)
//   0   u8[8]  magic "KVDWAL\r\n"
//   8   u32    format version (1)
//   12  u32    header size (64)
//   16  u64    segment seq (equal to the one in the file name)
//   24  u64    WAL id: random, chosen when the WAL is created, the same in all its segments
//   32  u32    CRC32C of bytes [0, 32)
//   36  u8[28] zero
//
// RECORD FRAME (starts at a multiple of 8 bytes from the start of the file)
//   0   u32    CRC32C of bytes [4, frame end), continuing from the segment seed
//   4   u32    payload length n
//   8   u8     record type
//   9   u8[3]  zero
//   12  u8[n]  payload
//   ...        zero padding to a multiple of 8
// The segment seed is CRC32C(WAL id as u64, segment seq as u64). Seeding ties every record to
// its segment: a record copied into another segment, or into another WAL, does not verify, and
// entry data that happens to look like a frame cannot pass for one. A zeroed frame header (all
// 12 bytes zero) never verifies and marks the end of the data.
//
// RECORD TYPES AND PAYLOADS
//   1 batch header   u64 batch seq, u64 synced seq, u32 record count, u32 zero, u64 batch bytes
//   2 segment start  u64 first index
//   3 entry          u64 index, u64 term, u8 entry type (0 normal, 1 conf change), data
//   4 hard state     u64 term, u64 vote, u64 commit
//   5 snapshot       u8 kind (1 compaction, 2 install), u8[3] zero, u32 voter count,
//                    u32 learner count, u32 zero, u64 index, u64 term, u64 voters[],
//                    u64 learners[]
//
// BATCHES. Records are written and recovered in batches: a batch header followed by exactly
// `record count` records, `batch bytes` long in all (header frame included). A batch is all or
// nothing at recovery. One Wal::Save is one batch, written with one write(2) and made durable
// with one fdatasync. Batch seqs count up by one across the whole WAL. `synced seq` is the
// highest batch seq whose fdatasync had completed when the batch was written: a batch that
// names seq s as synced proves that batch s was acknowledged, which is how recovery tells a
// torn write (never acknowledged) from lost acknowledged data (see wal.h, RECOVERY).
// Within a batch, records come in this order: at most one segment start, at most one snapshot,
// entries with consecutive indexes, at most one hard state.
//
// OPENING BATCH. The first batch of every segment holds a segment start (the index the next
// entry gets: last index + 1 when the segment was started), the snapshot in force (kind
// compaction) if any, and the hard state if not empty. A segment is thereby readable without
// its predecessors, which is what lets old segments be removed. The opening batch is written in
// the same write as the batch that caused the segment to be started.
//
// WHY NOT PROTOBUF. Records use this fixed little-endian layout rather than the raftpb messages:
// the frame already carries length and checksum, so protobuf would add only varint decoding and a
// copy per entry, and the WAL would pull the generated gRPC/protobuf code into every binary that
// touches the log. Evolution is by the format version in the segment header.
//
// MEANING OF RECORDS, applied in order (storage/wal/log_state.h checks and applies them):
//   segment start F   the first segment read: the log starts empty before index F; any later
//                     segment: F must be last index + 1.
//   entry i           replaces entry i and everything after it (i <= last index + 1, and
//                     i > snapshot index and i > commit: committed entries are never replaced).
//   snapshot (S, T)   install: the log is replaced by the snapshot; it holds no entries after
//                     it. compaction: the snapshot covers the log up to S (entry S has term T);
//                     entries up to S are dropped, later ones kept. S never decreases.
//   hard state        replaces the hard state (term and commit never decrease; the vote does not
//                     change within a term).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "raft/types.h"

namespace kvd::wal {

inline constexpr uint32_t kFormatVersion = 1;
inline constexpr std::string_view kSegmentMagic{"KVDWAL\r\n", 8};
inline constexpr uint64_t kSegmentHeaderBytes = 64;
inline constexpr uint64_t kFrameHeaderBytes = 12;
inline constexpr uint64_t kFrameAlignment = 8;
// The largest payload a frame may carry: one entry's data must fit (entries are far smaller:
// the server caps a request at a few MiB).
inline constexpr uint64_t kMaxPayloadBytes = (uint64_t{1} << 31) - 1;

enum class RecordType : uint8_t {
  kBatchHeader = 1,
  kSegmentStart = 2,
  kEntry = 3,
  kHardState = 4,
  kSnapshot = 5,
};

enum class SnapshotKind : uint8_t {
  kCompaction = 1,  // this member's own snapshot: entries after it stay
  kInstall = 2,     // a snapshot received from the leader: it replaces the whole log
};

struct SnapshotRecord {
  SnapshotKind kind = SnapshotKind::kCompaction;
  raft::SnapshotMetadata metadata;

  bool operator==(const SnapshotRecord&) const = default;
};

struct SegmentHeader {
  uint64_t seq = 0;
  uint64_t wal_id = 0;

  bool operator==(const SegmentHeader&) const = default;
};

struct BatchHeader {
  uint64_t seq = 0;
  uint64_t synced_seq = 0;
  uint32_t record_count = 0;
  uint64_t batch_bytes = 0;

  bool operator==(const BatchHeader&) const = default;
};

// "<seq as 16 hex digits>.wal", and back (nullopt for any other name).
std::string SegmentFileName(uint64_t seq);
std::optional<uint64_t> ParseSegmentFileName(std::string_view name);

std::string EncodeSegmentHeader(const SegmentHeader& h);
// DataLoss for bad magic, checksum or non-zero reserved bytes; FailedPrecondition for a format
// version this build does not read. The message does not name the file (the caller adds it).
absl::StatusOr<SegmentHeader> DecodeSegmentHeader(std::string_view bytes);

uint32_t SegmentSeed(const SegmentHeader& h);

// The size of a frame carrying `payload_bytes` bytes of payload, padding included.
constexpr uint64_t FrameBytes(uint64_t payload_bytes) {
  return (kFrameHeaderBytes + payload_bytes + kFrameAlignment - 1) / kFrameAlignment *
         kFrameAlignment;
}

// Appends whole frames to a buffer, each checksummed with the segment's seed.
class FrameWriter {
 public:
  FrameWriter(std::string* out, uint32_t seed) : out_(out), seed_(seed) {}

  // Appends a frame and returns its offset in the buffer.
  size_t AppendBatchHeader(const BatchHeader& h);
  // Rewrites the batch header at `offset` (returned by AppendBatchHeader) in place.
  void PatchBatchHeader(size_t offset, const BatchHeader& h);
  void AppendSegmentStart(raft::Index first_index);
  void AppendEntry(const raft::Entry& e);
  void AppendHardState(const raft::HardState& hs);
  void AppendSnapshot(const SnapshotRecord& s);

 private:
  // Starts a frame of type t with payload_bytes of payload; the caller appends exactly that
  // many bytes, then calls EndFrame.
  size_t BeginFrame(RecordType t, uint64_t payload_bytes);
  void EndFrame(size_t frame_offset);

  std::string* const out_;
  const uint32_t seed_;
};

// What ParseFrame found at an offset.
struct Frame {
  enum class Status : uint8_t {
    kValid,  // checksum good: type and payload are set
    kZero,   // the frame header is all zero bytes (or the segment ends in zeros before one)
    kBad,    // anything else: short, too long, checksum or padding wrong
  };
  Status status = Status::kBad;
  RecordType type = RecordType::kBatchHeader;
  std::string_view payload;
  uint64_t bytes = 0;   // whole frame, padding included (kValid only)
  std::string problem;  // why it is kBad
};

// Parses the frame at `offset` (a multiple of 8) of a segment's bytes. Never reads outside
// `segment`. A valid checksum with an unknown record type is kValid with that raw type: the
// caller reports it (it was written, so it is not a torn write).
Frame ParseFrame(std::string_view segment, uint64_t offset, uint32_t seed);

// Payload decoders. InvalidArgument says what is wrong with a payload whose checksum was good.
absl::StatusOr<BatchHeader> DecodeBatchHeader(std::string_view payload);
absl::StatusOr<raft::Index> DecodeSegmentStart(std::string_view payload);
absl::StatusOr<raft::Entry> DecodeEntry(std::string_view payload);
absl::StatusOr<raft::HardState> DecodeHardState(std::string_view payload);
absl::StatusOr<SnapshotRecord> DecodeSnapshot(std::string_view payload);

}  // namespace kvd::wal
