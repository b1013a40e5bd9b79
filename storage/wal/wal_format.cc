#include "storage/wal/wal_format.h"

#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "storage/crc32c.h"

namespace kvd::wal {
namespace {

template <typename T>
T ByteSwap(T v) {
  if constexpr (sizeof(T) == 1) {
    return v;
  } else if constexpr (sizeof(T) == 4) {
    return __builtin_bswap32(v);
  } else {
    return __builtin_bswap64(v);
  }
}

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) v = ByteSwap(v);
  return v;
}

template <typename T>
void Store(char* p, T v) {
  if constexpr (std::endian::native == std::endian::big) v = ByteSwap(v);
  std::memcpy(p, &v, sizeof(T));
}

template <typename T>
void Put(std::string* out, T v) {
  char buf[sizeof(T)];
  Store(buf, v);
  out->append(buf, sizeof(T));
}

bool AllZero(std::string_view s) {
  for (char c : s) {
    if (c != 0) return false;
  }
  return true;
}

// Reads fixed-size fields from a payload front to back.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view p) : p_(p) {}
  bool Has(size_t n) const { return p_.size() >= n; }
  template <typename T>
  T Take() {
    const T v = Load<T>(p_.data());
    p_.remove_prefix(sizeof(T));
    return v;
  }
  std::string_view Rest() const { return p_; }

 private:
  std::string_view p_;
};

constexpr uint64_t kBatchHeaderPayload = 32;
constexpr uint64_t kSegmentStartPayload = 8;
constexpr uint64_t kEntryFixedPayload = 17;
constexpr uint64_t kHardStatePayload = 24;
constexpr uint64_t kSnapshotFixedPayload = 32;

}  // namespace

std::string SegmentFileName(uint64_t seq) { return absl::StrFormat("%016x.wal", seq); }

std::optional<uint64_t> ParseSegmentFileName(std::string_view name) {
  if (name.size() != 20 || name.substr(16) != ".wal") return std::nullopt;
  uint64_t seq = 0;
  for (char c : name.substr(0, 16)) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    seq = seq << 4 | static_cast<uint64_t>(digit);
  }
  return seq;
}

std::string EncodeSegmentHeader(const SegmentHeader& h) {
  std::string out(kSegmentHeaderBytes, '\0');
  std::memcpy(out.data(), kSegmentMagic.data(), kSegmentMagic.size());
  Store<uint32_t>(out.data() + 8, kFormatVersion);
  Store<uint32_t>(out.data() + 12, static_cast<uint32_t>(kSegmentHeaderBytes));
  Store<uint64_t>(out.data() + 16, h.seq);
  Store<uint64_t>(out.data() + 24, h.wal_id);
  Store<uint32_t>(out.data() + 32, storage::Crc32c(std::string_view(out.data(), 32)));
  return out;
}

absl::StatusOr<SegmentHeader> DecodeSegmentHeader(std::string_view bytes) {
  if (bytes.size() < kSegmentHeaderBytes) {
    return absl::DataLossError(absl::StrCat("segment header is cut short: the file is ",
                                            bytes.size(), " bytes, a header is ",
                                            kSegmentHeaderBytes));
  }
  if (bytes.substr(0, kSegmentMagic.size()) != kSegmentMagic) {
    return absl::DataLossError("not a kvd WAL segment: bad magic");
  }
  const uint32_t version = Load<uint32_t>(bytes.data() + 8);
  if (version != kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat("written by WAL format version ", version,
                                                      "; this kvd reads version ", kFormatVersion));
  }
  if (Load<uint32_t>(bytes.data() + 32) != storage::Crc32c(bytes.substr(0, 32))) {
    return absl::DataLossError("segment header checksum mismatch");
  }
  if (Load<uint32_t>(bytes.data() + 12) != kSegmentHeaderBytes ||
      !AllZero(bytes.substr(36, kSegmentHeaderBytes - 36))) {
    return absl::DataLossError("segment header has unexpected size or reserved bytes");
  }
  return SegmentHeader{.seq = Load<uint64_t>(bytes.data() + 16),
                       .wal_id = Load<uint64_t>(bytes.data() + 24)};
}

uint32_t SegmentSeed(const SegmentHeader& h) {
  char buf[16];
  Store<uint64_t>(buf, h.wal_id);
  Store<uint64_t>(buf + 8, h.seq);
  return storage::Crc32c(std::string_view(buf, sizeof(buf)));
}

size_t FrameWriter::BeginFrame(RecordType t, uint64_t payload_bytes) {
  const size_t offset = out_->size();
  char header[kFrameHeaderBytes] = {};
  Store<uint32_t>(header + 4, static_cast<uint32_t>(payload_bytes));
  header[8] = static_cast<char>(t);
  out_->append(header, sizeof(header));
  return offset;
}

void FrameWriter::EndFrame(size_t frame_offset) {
  out_->resize(frame_offset + FrameBytes(out_->size() - frame_offset - kFrameHeaderBytes), '\0');
  const std::string_view covered =
      std::string_view(*out_).substr(frame_offset + 4, out_->size() - frame_offset - 4);
  Store<uint32_t>(out_->data() + frame_offset, storage::Crc32c(seed_, covered));
}

size_t FrameWriter::AppendBatchHeader(const BatchHeader& h) {
  const size_t offset = BeginFrame(RecordType::kBatchHeader, kBatchHeaderPayload);
  Put<uint64_t>(out_, h.seq);
  Put<uint64_t>(out_, h.synced_seq);
  Put<uint32_t>(out_, h.record_count);
  Put<uint32_t>(out_, 0);
  Put<uint64_t>(out_, h.batch_bytes);
  EndFrame(offset);
  return offset;
}

void FrameWriter::PatchBatchHeader(size_t offset, const BatchHeader& h) {
  char* p = out_->data() + offset + kFrameHeaderBytes;
  Store<uint64_t>(p, h.seq);
  Store<uint64_t>(p + 8, h.synced_seq);
  Store<uint32_t>(p + 16, h.record_count);
  Store<uint64_t>(p + 24, h.batch_bytes);
  const std::string_view covered =
      std::string_view(*out_).substr(offset + 4, FrameBytes(kBatchHeaderPayload) - 4);
  Store<uint32_t>(out_->data() + offset, storage::Crc32c(seed_, covered));
}

void FrameWriter::AppendSegmentStart(raft::Index first_index) {
  const size_t offset = BeginFrame(RecordType::kSegmentStart, kSegmentStartPayload);
  Put<uint64_t>(out_, first_index);
  EndFrame(offset);
}

void FrameWriter::AppendEntry(const raft::Entry& e) {
  const size_t offset = BeginFrame(RecordType::kEntry, kEntryFixedPayload + e.data.size());
  Put<uint64_t>(out_, e.index);
  Put<uint64_t>(out_, e.term);
  Put<uint8_t>(out_, static_cast<uint8_t>(e.type));
  out_->append(e.data);
  EndFrame(offset);
}

void FrameWriter::AppendHardState(const raft::HardState& hs) {
  const size_t offset = BeginFrame(RecordType::kHardState, kHardStatePayload);
  Put<uint64_t>(out_, hs.term);
  Put<uint64_t>(out_, hs.vote);
  Put<uint64_t>(out_, hs.commit);
  EndFrame(offset);
}

void FrameWriter::AppendSnapshot(const SnapshotRecord& s) {
  const raft::ConfState& cs = s.metadata.conf_state;
  const size_t offset = BeginFrame(
      RecordType::kSnapshot, kSnapshotFixedPayload + 8 * (cs.voters.size() + cs.learners.size()));
  Put<uint8_t>(out_, static_cast<uint8_t>(s.kind));
  out_->append(3, '\0');
  Put<uint32_t>(out_, static_cast<uint32_t>(cs.voters.size()));
  Put<uint32_t>(out_, static_cast<uint32_t>(cs.learners.size()));
  Put<uint32_t>(out_, 0);
  Put<uint64_t>(out_, s.metadata.index);
  Put<uint64_t>(out_, s.metadata.term);
  for (raft::NodeId id : cs.voters) Put<uint64_t>(out_, id);
  for (raft::NodeId id : cs.learners) Put<uint64_t>(out_, id);
  EndFrame(offset);
}

Frame ParseFrame(std::string_view segment, uint64_t offset, uint32_t seed) {
  Frame f;
  if (offset > segment.size()) {
    f.problem = "offset past the end of the segment";
    return f;
  }
  const std::string_view rest = segment.substr(offset);
  const std::string_view header = rest.substr(0, kFrameHeaderBytes);
  if (AllZero(header)) {
    f.status = Frame::Status::kZero;
    return f;
  }
  if (header.size() < kFrameHeaderBytes) {
    f.problem = "frame header cut short by the end of the segment";
    return f;
  }
  const uint64_t length = Load<uint32_t>(header.data() + 4);
  if (length > kMaxPayloadBytes || FrameBytes(length) > rest.size()) {
    f.problem = absl::StrCat("frame length ", length, " runs past the end of the segment");
    return f;
  }
  const uint64_t bytes = FrameBytes(length);
  if (Load<uint32_t>(header.data()) != storage::Crc32c(seed, rest.substr(4, bytes - 4))) {
    f.problem = "record checksum mismatch";
    return f;
  }
  // The checksum covers the reserved bytes and the padding; a writer of this format zeroes them.
  if (!AllZero(header.substr(9, 3)) ||
      !AllZero(rest.substr(kFrameHeaderBytes + length, bytes - kFrameHeaderBytes - length))) {
    f.problem = "non-zero reserved bytes or padding in a frame with a good checksum";
    return f;
  }
  f.status = Frame::Status::kValid;
  f.type = static_cast<RecordType>(header[8]);
  f.payload = rest.substr(kFrameHeaderBytes, length);
  f.bytes = bytes;
  return f;
}

absl::StatusOr<BatchHeader> DecodeBatchHeader(std::string_view payload) {
  if (payload.size() != kBatchHeaderPayload) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch header payload is ", payload.size(), " bytes, not 32"));
  }
  PayloadReader r(payload);
  BatchHeader h;
  h.seq = r.Take<uint64_t>();
  h.synced_seq = r.Take<uint64_t>();
  h.record_count = r.Take<uint32_t>();
  if (r.Take<uint32_t>() != 0) return absl::InvalidArgumentError("batch header reserved bytes");
  h.batch_bytes = r.Take<uint64_t>();
  return h;
}

absl::StatusOr<raft::Index> DecodeSegmentStart(std::string_view payload) {
  if (payload.size() != kSegmentStartPayload) {
    return absl::InvalidArgumentError(
        absl::StrCat("segment start payload is ", payload.size(), " bytes, not 8"));
  }
  return PayloadReader(payload).Take<uint64_t>();
}

absl::StatusOr<raft::Entry> DecodeEntry(std::string_view payload) {
  if (payload.size() < kEntryFixedPayload) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry payload is ", payload.size(), " bytes, less than 17"));
  }
  PayloadReader r(payload);
  raft::Entry e;
  e.index = r.Take<uint64_t>();
  e.term = r.Take<uint64_t>();
  const uint8_t type = r.Take<uint8_t>();
  if (type > static_cast<uint8_t>(raft::EntryType::kConfChange)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown entry type ", type));
  }
  e.type = static_cast<raft::EntryType>(type);
  e.data = std::string(r.Rest());
  return e;
}

absl::StatusOr<raft::HardState> DecodeHardState(std::string_view payload) {
  if (payload.size() != kHardStatePayload) {
    return absl::InvalidArgumentError(
        absl::StrCat("hard state payload is ", payload.size(), " bytes, not 24"));
  }
  PayloadReader r(payload);
  raft::HardState hs;
  hs.term = r.Take<uint64_t>();
  hs.vote = r.Take<uint64_t>();
  hs.commit = r.Take<uint64_t>();
  return hs;
}

absl::StatusOr<SnapshotRecord> DecodeSnapshot(std::string_view payload) {
  if (payload.size() < kSnapshotFixedPayload) {
    return absl::InvalidArgumentError(
        absl::StrCat("snapshot payload is ", payload.size(), " bytes, less than 32"));
  }
  PayloadReader r(payload);
  SnapshotRecord s;
  const uint8_t kind = r.Take<uint8_t>();
  if (kind != static_cast<uint8_t>(SnapshotKind::kCompaction) &&
      kind != static_cast<uint8_t>(SnapshotKind::kInstall)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown snapshot kind ", kind));
  }
  s.kind = static_cast<SnapshotKind>(kind);
  if (r.Take<uint8_t>() != 0 || r.Take<uint8_t>() != 0 || r.Take<uint8_t>() != 0) {
    return absl::InvalidArgumentError("snapshot reserved bytes");
  }
  const uint64_t voters = r.Take<uint32_t>();
  const uint64_t learners = r.Take<uint32_t>();
  if (r.Take<uint32_t>() != 0) return absl::InvalidArgumentError("snapshot reserved bytes");
  s.metadata.index = r.Take<uint64_t>();
  s.metadata.term = r.Take<uint64_t>();
  if (r.Rest().size() != 8 * (voters + learners)) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot payload holds ", r.Rest().size(),
                                                   " bytes of members, not ",
                                                   8 * (voters + learners)));
  }
  for (uint64_t i = 0; i < voters; ++i) s.metadata.conf_state.voters.push_back(r.Take<uint64_t>());
  for (uint64_t i = 0; i < learners; ++i) {
    s.metadata.conf_state.learners.push_back(r.Take<uint64_t>());
  }
  return s;
}

}  // namespace kvd::wal
