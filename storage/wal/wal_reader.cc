#include "storage/wal/wal_reader.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/wal/wal_format.h"

namespace kvd::wal {
namespace {

absl::Status Corrupt(const std::string& path, uint64_t offset, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(
      "wal: corrupt segment ", path, " at byte offset ", offset, ": ", what,
      ". The WAL refuses to open: this member's log cannot be trusted. Replace its data (remove "
      "the member from the cluster and add it back) or restore it from a backup"));
}

const char* RecordTypeName(RecordType t) {
  switch (t) {
    case RecordType::kBatchHeader:
      return "batch header";
    case RecordType::kSegmentStart:
      return "segment start";
    case RecordType::kEntry:
      return "entry";
    case RecordType::kHardState:
      return "hard state";
    case RecordType::kSnapshot:
      return "snapshot";
  }
  return "unknown";
}

bool IsZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

// One past the last non-zero byte of s at or after `from`; `from` when there is none.
uint64_t EndOfNonZero(std::string_view s, uint64_t from) {
  uint64_t end = s.size();
  while (end > from && s[end - 1] == 0) --end;
  return std::max(end, from);
}

struct ParsedBatch {
  BatchHeader header;
  uint64_t offset = 0;
  std::optional<raft::Index> segment_start;
  std::optional<SnapshotRecord> snapshot;
  std::vector<raft::Entry> entries;
  std::optional<raft::HardState> hard_state;
};

// A batch read at an offset: complete, or stopped by a frame that is zero or does not verify
// (which a torn write could explain). Records that verify but make no sense are an error.
struct BatchAttempt {
  std::optional<ParsedBatch> batch;
  uint64_t problem_offset = 0;
  bool problem_is_zero_frame = false;
  std::string problem;
};

absl::StatusOr<BatchAttempt> ParseBatch(std::string_view seg, uint64_t start, uint32_t seed,
                                        const std::string& path) {
  BatchAttempt a;
  auto stop = [&](uint64_t offset, std::string what, bool zero) {
    a.problem_offset = offset;
    a.problem = std::move(what);
    a.problem_is_zero_frame = zero;
    return a;
  };
  const Frame head = ParseFrame(seg, start, seed);
  if (head.status == Frame::Status::kZero) return stop(start, "zero bytes", true);
  if (head.status == Frame::Status::kBad) return stop(start, head.problem, false);
  if (head.type != RecordType::kBatchHeader) {
    // Not damage (it verifies) but possibly a leftover of an older, longer write whose zeroing
    // never reached the disk: the caller decides by the proof-of-sync rule.
    return stop(start,
                absl::StrCat("a ", RecordTypeName(head.type), " record (type ",
                             static_cast<int>(head.type), ") where a batch header belongs"),
                false);
  }
  absl::StatusOr<BatchHeader> h = DecodeBatchHeader(head.payload);
  if (!h.ok()) return Corrupt(path, start, h.status().message());
  if (h->batch_bytes < head.bytes || h->batch_bytes % kFrameAlignment != 0) {
    return Corrupt(path, start, absl::StrCat("batch header gives a size of ", h->batch_bytes));
  }
  if (h->batch_bytes > seg.size() - start) {
    return stop(start, absl::StrCat("batch of ", h->batch_bytes, " bytes runs past the end"),
                false);
  }
  const uint64_t end = start + h->batch_bytes;
  ParsedBatch b;
  b.header = *h;
  b.offset = start;
  uint64_t off = start + head.bytes;
  for (uint32_t k = 0; k < h->record_count; ++k) {
    if (off >= end) {
      return Corrupt(path, start,
                     absl::StrCat("batch ends after ", k, " of its ", h->record_count, " records"));
    }
    const Frame f = ParseFrame(seg.substr(0, end), off, seed);
    if (f.status == Frame::Status::kZero) {
      return stop(off,
                  absl::StrCat("zero bytes where record ", k + 1, " of ", h->record_count,
                               " of batch ", h->seq, " belongs"),
                  true);
    }
    if (f.status == Frame::Status::kBad) return stop(off, f.problem, false);
    auto misplaced = [&] {
      return Corrupt(
          path, off,
          absl::StrCat("a ", RecordTypeName(f.type), " record out of order in batch ", h->seq));
    };
    auto bad_payload = [&](const absl::Status& s) {
      return Corrupt(path, off,
                     absl::StrCat("bad ", RecordTypeName(f.type), " record: ", s.message()));
    };
    switch (f.type) {
      case RecordType::kSegmentStart: {
        if (k != 0) return misplaced();
        absl::StatusOr<raft::Index> first = DecodeSegmentStart(f.payload);
        if (!first.ok()) return bad_payload(first.status());
        b.segment_start = *first;
        break;
      }
      case RecordType::kSnapshot: {
        if (b.snapshot || !b.entries.empty() || b.hard_state) return misplaced();
        absl::StatusOr<SnapshotRecord> s = DecodeSnapshot(f.payload);
        if (!s.ok()) return bad_payload(s.status());
        b.snapshot = std::move(*s);
        break;
      }
      case RecordType::kEntry: {
        if (b.hard_state) return misplaced();
        absl::StatusOr<raft::Entry> e = DecodeEntry(f.payload);
        if (!e.ok()) return bad_payload(e.status());
        b.entries.push_back(std::move(*e));
        break;
      }
      case RecordType::kHardState: {
        if (b.hard_state) return misplaced();
        absl::StatusOr<raft::HardState> hs = DecodeHardState(f.payload);
        if (!hs.ok()) return bad_payload(hs.status());
        b.hard_state = *hs;
        break;
      }
      case RecordType::kBatchHeader:
        return misplaced();
      default:
        return Corrupt(path, off,
                       absl::StrCat("record type ", static_cast<int>(f.type),
                                    " is unknown to WAL format version ", kFormatVersion));
    }
    off += f.bytes;
  }
  if (off != end) {
    return Corrupt(path, start,
                   absl::StrCat("batch ", h->seq, " holds ", off - start,
                                " bytes of records, its "
                                "header says ",
                                h->batch_bytes));
  }
  a.batch = std::move(b);
  return a;
}

struct HeaderAt {
  uint64_t offset = 0;
  BatchHeader header;
};

// Every batch header at or after `from` that verifies, wherever it is (a damaged batch hides
// where the next one starts, so every aligned offset is tried).
std::vector<HeaderAt> BatchHeadersFrom(std::string_view seg, uint64_t from, uint32_t seed) {
  constexpr uint64_t kHeaderFrame = FrameBytes(32);
  std::vector<HeaderAt> out;
  for (uint64_t p = (from + kFrameAlignment - 1) / kFrameAlignment * kFrameAlignment;
       p + kHeaderFrame <= seg.size(); p += kFrameAlignment) {
    if (static_cast<uint8_t>(seg[p + 8]) != static_cast<uint8_t>(RecordType::kBatchHeader)) {
      continue;
    }
    uint32_t length;
    std::memcpy(&length, seg.data() + p + 4, 4);
    if (length != 32) continue;
    const Frame f = ParseFrame(seg, p, seed);
    if (f.status != Frame::Status::kValid) continue;
    absl::StatusOr<BatchHeader> h = DecodeBatchHeader(f.payload);
    if (h.ok()) out.push_back({p, *h});
  }
  return out;
}

// A header that names batch `seq` (or a later one) as synced, which proves that batch was
// acknowledged.
const HeaderAt* FindProofOfSync(const std::vector<HeaderAt>& headers, uint64_t seq) {
  for (const HeaderAt& h : headers) {
    if (h.header.synced_seq >= seq && h.header.synced_seq < h.header.seq) return &h;
  }
  return nullptr;
}

struct SegmentFile {
  uint64_t seq = 0;
  std::string path;
};

}  // namespace

absl::StatusOr<WalContents> ReadWal(fs::FileSystem& fs, const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = fs.ListDir(dir);
  if (!names.ok()) return names.status();
  WalContents out;
  std::vector<SegmentFile> files;
  for (const std::string& name : *names) {
    if (std::optional<uint64_t> seq = ParseSegmentFileName(name)) {
      files.push_back({*seq, fs::JoinPath(dir, name)});
    } else if (absl::EndsWith(name, ".wal.tmp")) {
      out.leftover_temp_files.push_back(fs::JoinPath(dir, name));
    } else if (absl::EndsWith(name, ".wal")) {
      return absl::FailedPreconditionError(
          absl::StrCat("wal: unexpected file ", fs::JoinPath(dir, name),
                       " in the WAL directory (segments are named <16 hex digits>.wal); move it "
                       "elsewhere"));
    }
  }
  std::sort(files.begin(), files.end(),
            [](const SegmentFile& a, const SegmentFile& b) { return a.seq < b.seq; });
  if (files.empty()) {
    out.empty_dir = true;
    return out;
  }
  for (size_t i = 1; i < files.size(); ++i) {
    if (files[i].seq != files[i - 1].seq + 1) {
      return absl::DataLossError(
          absl::StrCat("wal: segment ", fs::JoinPath(dir, SegmentFileName(files[i - 1].seq + 1)),
                       " is missing: the WAL in ", dir, " holds segments ", files[i - 1].seq,
                       " and ", files[i].seq, " but nothing between them"));
    }
  }

  std::deque<raft::Entry> entries;  // mirrors out.state: first_index() .. last_index()
  struct Problem {
    size_t file = 0;
    uint64_t offset = 0;       // the frame that stopped reading
    uint64_t batch_start = 0;  // where the incomplete batch starts
    std::string what;
    std::string bytes;  // the segment's content
    uint32_t seed = 0;
    uint64_t batches_before = 0;  // complete batches in that segment
  };
  std::optional<Problem> problem;
  std::string next_bytes;  // the segment after the problem, if any
  uint32_t next_seed = 0;

  for (size_t i = 0; i < files.size(); ++i) {
    const SegmentFile& file = files[i];
    // Read what the disk holds, not what the page cache does: after a failed fdatasync (the
    // WAL then died) the batch it failed to write can still sit there, clean, for this process
    // to read and take for durable though the disk never got it.
    if (absl::Status s = fs.EvictCachedPages(file.path); !s.ok()) return s;
    absl::StatusOr<std::string> bytes = fs.ReadFile(file.path);
    if (!bytes.ok()) return bytes.status();
    absl::StatusOr<SegmentHeader> header = DecodeSegmentHeader(*bytes);
    if (!header.ok()) {
      return absl::Status(header.status().code(), absl::StrCat("wal: segment ", file.path, ": ",
                                                               header.status().message()));
    }
    if (header->seq != file.seq) {
      return Corrupt(file.path, 16,
                     absl::StrCat("the header names segment ", header->seq,
                                  ": the file was renamed or copied"));
    }
    if (i == 0) {
      out.wal_id = header->wal_id;
    } else if (header->wal_id != out.wal_id) {
      return Corrupt(file.path, 24,
                     absl::StrCat("the segment belongs to another WAL (id ", header->wal_id,
                                  ", not ", out.wal_id, ")"));
    }
    const uint32_t seed = SegmentSeed(*header);
    if (problem) {
      if (i > problem->file + 1) {
        return Corrupt(files[problem->file].path, problem->offset,
                       absl::StrCat(problem->what, "; and ", files.size() - problem->file - 1,
                                    " newer segments follow it"));
      }
      next_bytes = std::move(*bytes);
      next_seed = seed;
      continue;
    }

    SegmentOnDisk seg;
    seg.seq = file.seq;
    seg.path = file.path;
    uint64_t off = kSegmentHeaderBytes;
    // Reading stops at `at`, in the batch starting at `off`: maybe a torn write (decided below).
    auto stop_reading = [&](uint64_t at, std::string what) {
      problem.emplace();
      problem->file = i;
      problem->offset = at;
      problem->batch_start = off;
      problem->what = std::move(what);
      problem->seed = seed;
      problem->batches_before = seg.batch_count;
    };
    while (true) {
      absl::StatusOr<BatchAttempt> a = ParseBatch(*bytes, off, seed, file.path);
      if (!a.ok()) return a.status();
      if (!a->batch) {
        const bool at_boundary = a->problem_is_zero_frame && a->problem_offset == off;
        if (at_boundary && IsZero(std::string_view(*bytes).substr(off))) {
          break;  // the clean end of this segment's data
        }
        stop_reading(a->problem_offset,
                     at_boundary ? "non-zero bytes after the end of the data" : a->problem);
        break;
      }
      const ParsedBatch& b = *a->batch;
      if (out.last_batch_seq != 0 && b.header.seq != out.last_batch_seq + 1) {
        // A whole batch that verifies but is out of sequence: a leftover of an older write, like
        // a record out of place (see ParseBatch).
        stop_reading(off, absl::StrCat("batch ", b.header.seq, " where batch ",
                                       out.last_batch_seq + 1, " belongs"));
        break;
      }
      if (seg.batch_count == 0 && !b.segment_start) {
        return Corrupt(file.path, off, "the segment's first batch has no segment start record");
      }
      if (seg.batch_count > 0 && b.segment_start) {
        return Corrupt(file.path, off, "a segment start record after the segment's first batch");
      }
      if (b.header.seq == 0 || b.header.synced_seq >= b.header.seq) {
        return Corrupt(file.path, off,
                       absl::StrCat("batch ", b.header.seq, " claims batch ", b.header.synced_seq,
                                    " was synced before it"));
      }
      const BatchContent content{b.segment_start, b.snapshot, b.entries, b.hard_state};
      if (absl::Status s = out.state.Check(content); !s.ok()) {
        return Corrupt(
            file.path, off,
            absl::StrCat("batch ", b.header.seq, " breaks the log's rules: ", s.message()));
      }
      out.state.Apply(content);
      // Mirror the batch into the recovered entries the way LogState applied it.
      if (b.snapshot && b.snapshot->kind == SnapshotKind::kInstall) entries.clear();
      if (!b.entries.empty()) {
        const raft::Index e0 = b.entries.front().index;
        while (!entries.empty() && entries.back().index >= e0) entries.pop_back();
        if (!entries.empty() && entries.back().index + 1 != e0) entries.clear();
        for (const raft::Entry& e : b.entries) entries.push_back(e);
      }
      while (!entries.empty() && entries.front().index < out.state.first_index()) {
        entries.pop_front();
      }
      if (seg.batch_count == 0) seg.first_index = *b.segment_start;
      ++seg.batch_count;
      out.last_batch_seq = b.header.seq;
      off += b.header.batch_bytes;
    }
    seg.end_offset = off;
    if (problem) {
      problem->bytes = std::move(*bytes);
      if (seg.batch_count > 0) out.segments.push_back(std::move(seg));
      continue;
    }
    if (seg.batch_count > 0) {
      out.segments.push_back(std::move(seg));
    } else if (i + 1 < files.size()) {
      return Corrupt(file.path, kSegmentHeaderBytes,
                     "the segment holds no batch, yet newer segments follow it");
    } else {
      out.spare = std::move(seg);
    }
  }

  if (problem) {
    const std::string& path = files[problem->file].path;
    const uint64_t unacknowledged = out.last_batch_seq + 1;
    const bool has_next = problem->file + 1 < files.size();
    const std::vector<HeaderAt> after =
        BatchHeadersFrom(problem->bytes, problem->offset, problem->seed);
    const std::vector<HeaderAt> in_next =
        has_next ? BatchHeadersFrom(next_bytes, kSegmentHeaderBytes, next_seed)
                 : std::vector<HeaderAt>();
    std::optional<std::pair<std::string, uint64_t>> proof;
    if (const HeaderAt* p = FindProofOfSync(after, unacknowledged)) {
      proof = {path, p->offset};
    } else if (const HeaderAt* q = FindProofOfSync(in_next, unacknowledged)) {
      proof = {files[problem->file + 1].path, q->offset};
    }
    if (proof) {
      return Corrupt(path, problem->offset,
                     absl::StrCat(problem->what, "; not a torn write: the batch at ", proof->first,
                                  " offset ", proof->second, " proves that batch ", unacknowledged,
                                  " had been made durable"));
    }
    if (problem->batches_before == 0 && has_next) {
      return Corrupt(path, problem->offset,
                     absl::StrCat(problem->what,
                                  "; the segment holds no complete batch, yet a newer one exists"));
    }
    // A torn tail: the write of batch `unacknowledged` never completed, so it was never
    // acknowledged. Zero it and anything after it.
    const uint64_t end = EndOfNonZero(problem->bytes, problem->batch_start);
    // Later batches that verify go too. A torn write explains them (pages of unsynced writes
    // reach the disk in any order), but so does damage to an unsynced batch that a later
    // synced one made durable: then the newest of them may have been acknowledged (wal.h,
    // Limits). Say so rather than guess.
    uint64_t later_first = 0, later_last = 0, later_count = 0;
    for (const std::vector<HeaderAt>* headers : {&after, &in_next}) {
      for (const HeaderAt& h : *headers) {
        if (h.header.seq <= unacknowledged) continue;
        if (later_count++ == 0) later_first = h.header.seq;
        later_last = std::max(later_last, h.header.seq);
      }
    }
    const std::string later =
        later_count == 0
            ? std::string()
            : absl::StrCat("; ", later_count, later_count == 1 ? " batch" : " batches",
                           " after it (seq ", later_first,
                           later_count == 1 ? "" : absl::StrCat(" to ", later_last),
                           ") verified and went with it: if this was damage after the fact "
                           "rather than a torn write, batch ",
                           later_last, " may have been acknowledged");
    out.notices.push_back(absl::StrCat(
        "wal: discarded a torn write at the end of ", path, ": bytes [", problem->batch_start, ", ",
        end, ") (", problem->what, " at offset ", problem->offset, "): batch ", unacknowledged,
        " is incomplete and nothing after it shows it was ever synced, so it is taken for a write "
        "cut short by a crash",
        later));
    if (end > problem->batch_start) out.repairs.push_back({path, problem->batch_start, end});
    if (problem->batches_before == 0) {
      out.spare = SegmentOnDisk{files[problem->file].seq, path, 0, kSegmentHeaderBytes, 0};
    } else if (has_next) {
      const std::string& next_path = files[problem->file + 1].path;
      const uint64_t next_end = EndOfNonZero(next_bytes, kSegmentHeaderBytes);
      if (next_end > kSegmentHeaderBytes) {
        out.notices.push_back(absl::StrCat("wal: discarded a torn write in ", next_path,
                                           ": bytes [", kSegmentHeaderBytes, ", ", next_end, ")"));
        out.repairs.push_back({next_path, kSegmentHeaderBytes, next_end});
      }
      out.spare = SegmentOnDisk{files[problem->file + 1].seq, next_path, 0, kSegmentHeaderBytes, 0};
    }
  }

  if (out.segments.empty()) {
    if (!out.spare) return absl::InternalError("wal: reader found neither data nor a spare");
    if (out.spare->seq != 1) {
      return absl::DataLossError(absl::StrCat(
          "wal: the WAL in ", dir, " holds no record: its only segment is ", out.spare->path,
          ", so segments 1 to ", out.spare->seq - 1, ", which held the log, are missing"));
    }
    return out;
  }
  if (!out.state.connected()) {
    return absl::DataLossError(absl::StrCat(
        "wal: entries ", out.state.snapshot().index + 1, " to ", out.state.first_index() - 1,
        " are missing: the oldest segment ", out.segments.front().path, " starts at index ",
        out.segments.front().first_index, " but the latest snapshot covers only up to index ",
        out.state.snapshot().index, " (an older segment was removed or lost)"));
  }
  out.entries.assign(std::make_move_iterator(entries.begin()),
                     std::make_move_iterator(entries.end()));
  return out;
}

}  // namespace kvd::wal
