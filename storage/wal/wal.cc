#include "storage/wal/wal.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/strings.h"
#include "storage/wal/wal_format.h"
#include "storage/wal/wal_reader.h"

namespace kvd::wal {
namespace {

uint64_t NewWalId() {
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = (uint64_t{rd()} << 32) | rd();
  return id;
}

absl::Status WriteZeros(fs::WritableFile& f, uint64_t from, uint64_t to) {
  static const std::string kZeros(1 << 20, '\0');
  for (uint64_t off = from; off < to;) {
    const uint64_t n = std::min<uint64_t>(kZeros.size(), to - off);
    if (absl::Status s = f.WriteAt(off, std::string_view(kZeros.data(), n)); !s.ok()) return s;
    off += n;
  }
  return absl::OkStatus();
}

// Zeroes a torn tail so that what follows the last good batch reads as unused space again,
// and makes that durable before anything new is written after it.
absl::Status Repair(fs::FileSystem& fs, const ZeroRepair& r, uint64_t segment_bytes) {
  absl::StatusOr<std::unique_ptr<fs::WritableFile>> f =
      fs.OpenWritable(r.path, fs::OpenMode::kOpenExisting);
  if (!f.ok()) return f.status();
  const uint64_t keep = std::max(segment_bytes, r.from);
  uint64_t to = r.to;
  if (to > keep) {  // bytes past the preallocated size: cut them off rather than zero them
    if (absl::Status s = (*f)->Truncate(keep); !s.ok()) return s;
    to = keep;
  }
  if (absl::Status s = WriteZeros(**f, r.from, to); !s.ok()) return s;
  return (*f)->Sync();
}

}  // namespace

Wal::Wal(fs::FileSystem* fs, std::string dir, WalOptions options, uint64_t wal_id)
    : fs_(fs), dir_(std::move(dir)), options_(options), wal_id_(wal_id) {
  preparer_ =
      std::make_unique<SegmentPreparer>(fs_, dir_,
                                        SegmentSpec{.wal_id = wal_id_,
                                                    .segment_bytes = options_.segment_bytes,
                                                    .zero_fill = options_.zero_fill_segments},
                                        options_.prepare_segments_in_background);
}

Wal::~Wal() = default;

absl::StatusOr<Wal::Opened> Wal::Open(fs::FileSystem* fs, std::string dir, WalOptions options) {
  if (options.create_if_missing && absl::IsNotFound(fs->ListDir(dir).status())) {
    if (absl::Status s = fs->CreateDir(dir); !s.ok()) return s;
    if (absl::Status s = fs->SyncDir(fs::DirName(dir)); !s.ok()) return s;
  }
  absl::StatusOr<WalContents> contents = ReadWal(*fs, dir);
  if (!contents.ok()) return contents.status();

  Opened opened;
  RecoveredLog& log = opened.log;
  log.notices = std::move(contents->notices);
  for (const std::string& tmp : contents->leftover_temp_files) {
    if (absl::Status s = fs->Remove(tmp); !s.ok()) return s;
    log.notices.push_back(
        absl::StrCat("wal: removed ", tmp, ", left by an interrupted segment preparation"));
  }
  // A process that died between renaming a prepared segment into place and syncing the
  // directory leaves a name that is only in the page cache; the segment is about to be used, so
  // make its name durable (and the removals above).
  if (absl::Status s = fs->SyncDir(dir); !s.ok()) return s;

  if (contents->empty_dir) {
    if (!options.create_if_missing) {
      return absl::NotFoundError(absl::StrCat("wal: no WAL segment in ", dir));
    }
    const SegmentSpec spec{.wal_id = NewWalId(),
                           .segment_bytes = options.segment_bytes,
                           .zero_fill = options.zero_fill_segments};
    if (absl::Status s = PrepareSegment(*fs, dir, spec, 1); !s.ok()) return s;
    contents->wal_id = spec.wal_id;
    contents->spare.emplace();
    contents->spare->seq = 1;
  }

  for (const ZeroRepair& r : contents->repairs) {
    if (absl::Status s = Repair(*fs, r, options.segment_bytes); !s.ok()) return s;
  }

  std::unique_ptr<Wal> wal(new Wal(fs, dir, options, contents->wal_id));
  wal->state_ = std::move(contents->state);
  if (!wal->state_.started()) {
    // A new WAL: its first segment will start at index 1.
    BatchContent start;
    start.segment_start = 1;
    wal->state_.Apply(start);
  }
  for (const SegmentOnDisk& s : contents->segments) {
    wal->segments_.push_back({s.seq, s.path, s.first_index});
  }
  wal->next_batch_seq_ = contents->last_batch_seq + 1;
  wal->synced_batch_seq_ = contents->last_batch_seq;
  if (!contents->segments.empty()) {
    const SegmentOnDisk& last = contents->segments.back();
    // No sync needed: ReadWal read it from the disk (after an fdatasync), and repairs synced.
    absl::StatusOr<std::unique_ptr<fs::WritableFile>> f =
        fs->OpenWritable(last.path, fs::OpenMode::kOpenExisting);
    if (!f.ok()) return f.status();
    wal->current_ = std::make_unique<OpenSegment>(
        OpenSegment{.seq = last.seq,
                    .seed = SegmentSeed({.seq = last.seq, .wal_id = contents->wal_id}),
                    .file = std::move(*f),
                    .end = last.end_offset,
                    .batches = last.batch_count,
                    .unsynced = false});
  }
  if (contents->spare) {
    wal->spare_seq_ = contents->spare->seq;
    wal->spare_ready_ = true;
  } else {
    wal->spare_seq_ = contents->segments.back().seq + 1;
    wal->preparer_->Start(wal->spare_seq_);
  }

  log.hard_state = wal->state_.hard_state();
  log.snapshot = wal->state_.snapshot();
  log.entries = std::move(contents->entries);
  opened.wal = std::move(wal);
  return opened;
}

absl::Status Wal::Fail(std::string_view what, const absl::Status& cause) {
  failed_ = absl::InternalError(storage::Cat(
      "wal: ", what, " failed (", cause.ToString(),
      "); the WAL is unusable and nothing written since its last successful sync can be assumed "
      "durable: stop the process and restart it to recover from what is on disk"));
  return failed_;
}

std::vector<uint64_t> Wal::SegmentSeqs() const {
  std::vector<uint64_t> seqs;
  for (const Segment& s : segments_) seqs.push_back(s.seq);
  return seqs;
}

uint64_t Wal::EncodedBytes(const BatchContent& c) const {
  uint64_t n = FrameBytes(32);
  if (c.segment_start) n += FrameBytes(8);
  if (c.snapshot) {
    const raft::ConfState& cs = c.snapshot->metadata.conf_state;
    n += FrameBytes(32 + 8 * (cs.voters.size() + cs.learners.size()));
  }
  for (const raft::Entry& e : c.entries) n += FrameBytes(17 + e.data.size());
  if (c.hard_state) n += FrameBytes(24);
  return n;
}

void Wal::Encode(const BatchContent& c, uint32_t seed) {
  FrameWriter w(&buffer_, seed);
  const size_t start = buffer_.size();
  BatchHeader h{.seq = next_batch_seq_++, .synced_seq = synced_batch_seq_};
  const size_t header_at = w.AppendBatchHeader(h);
  if (c.segment_start) w.AppendSegmentStart(*c.segment_start);
  if (c.snapshot) w.AppendSnapshot(*c.snapshot);
  for (const raft::Entry& e : c.entries) w.AppendEntry(e);
  if (c.hard_state) w.AppendHardState(*c.hard_state);
  h.record_count = static_cast<uint32_t>((c.segment_start ? 1 : 0) + (c.snapshot ? 1 : 0) +
                                         c.entries.size() + (c.hard_state ? 1 : 0));
  h.batch_bytes = buffer_.size() - start;
  w.PatchBatchHeader(header_at, h);
}

absl::Status Wal::SyncCurrent() {
  if (current_ == nullptr || !current_->unsynced) return absl::OkStatus();
  if (absl::Status s = current_->file->Sync(); !s.ok()) {
    return Fail(absl::StrCat("fdatasync of segment ", current_->seq), s);
  }
  current_->unsynced = false;
  synced_batch_seq_ = next_batch_seq_ - 1;
  return absl::OkStatus();
}

absl::Status Wal::StartNextSegment() {
  if (absl::Status s = SyncCurrent(); !s.ok()) return s;
  if (!spare_ready_) {
    if (absl::Status s = preparer_->Wait(spare_seq_); !s.ok()) {
      return Fail(absl::StrCat("preparing segment ", spare_seq_), s);
    }
    spare_ready_ = true;
  }
  const std::string path = fs::JoinPath(dir_, SegmentFileName(spare_seq_));
  absl::StatusOr<std::unique_ptr<fs::WritableFile>> f =
      fs_->OpenWritable(path, fs::OpenMode::kOpenExisting);
  if (!f.ok()) return Fail(absl::StrCat("opening ", path), f.status());
  current_ = std::make_unique<OpenSegment>(
      OpenSegment{.seq = spare_seq_,
                  .seed = SegmentSeed({.seq = spare_seq_, .wal_id = wal_id_}),
                  .file = std::move(*f),
                  .end = kSegmentHeaderBytes,
                  .batches = 0,
                  .unsynced = false});
  spare_ready_ = false;
  return absl::OkStatus();
}

absl::Status Wal::Append(const BatchContent& content, bool sync) {
  const uint64_t bytes = EncodedBytes(content);
  if (current_ == nullptr ||
      (current_->batches > 0 && current_->end + bytes > options_.segment_bytes)) {
    if (absl::Status s = StartNextSegment(); !s.ok()) return s;
  }
  const bool opening = current_->batches == 0;
  const raft::Index segment_first = state_.last_index() + 1;
  buffer_.clear();
  uint64_t batches = 1;
  if (opening) {
    // The state as it stands, so this segment can be read without its predecessors.
    BatchContent open;
    open.segment_start = segment_first;
    if (state_.snapshot().index > 0) {
      open.snapshot = SnapshotRecord{SnapshotKind::kCompaction, state_.snapshot()};
    }
    if (!state_.hard_state().IsEmpty()) open.hard_state = state_.hard_state();
    Encode(open, current_->seed);
    ++batches;
  }
  Encode(content, current_->seed);
  const std::string path = fs::JoinPath(dir_, SegmentFileName(current_->seq));
  if (absl::Status s = current_->file->WriteAt(current_->end, buffer_); !s.ok()) {
    return Fail(absl::StrCat("writing ", path), s);
  }
  current_->end += buffer_.size();
  current_->batches += batches;
  // A segment's opening batch is always synced: the next segment is prepared only after it is
  // durable, so a segment never follows one whose start might be torn.
  if (sync || opening) {
    if (absl::Status s = current_->file->Sync(); !s.ok()) {
      return Fail(absl::StrCat("fdatasync of ", path), s);
    }
    current_->unsynced = false;
    synced_batch_seq_ = next_batch_seq_ - 1;
  } else {
    current_->unsynced = true;
  }
  state_.Apply(content);
  if (opening) {
    segments_.push_back({current_->seq, path, segment_first});
    spare_seq_ = current_->seq + 1;
    preparer_->Start(spare_seq_);
  }
  return absl::OkStatus();
}

absl::Status Wal::Save(const WalBatch& batch) {
  if (closed_) return absl::FailedPreconditionError("wal: Save after Close");
  if (!failed_.ok()) return failed_;
  BatchContent content;
  content.entries = batch.entries;
  if (batch.snapshot != nullptr) {
    content.snapshot = SnapshotRecord{SnapshotKind::kInstall, *batch.snapshot};
  }
  if (batch.hard_state != nullptr) content.hard_state = *batch.hard_state;
  if (content.empty()) return absl::OkStatus();
  for (const raft::Entry& e : batch.entries) {
    if (e.data.size() > kMaxPayloadBytes - 17) {
      return absl::InvalidArgumentError(
          absl::StrCat("wal: entry ", e.index, " holds ", e.data.size(), " bytes, over the limit"));
    }
  }
  if (absl::Status s = state_.Check(content); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("wal: refused batch: ", s.message()));
  }
  return Append(content, batch.sync);
}

absl::Status Wal::SaveSnapshot(const raft::SnapshotMetadata& snapshot) {
  if (closed_) return absl::FailedPreconditionError("wal: SaveSnapshot after Close");
  if (!failed_.ok()) return failed_;
  if (snapshot.index == state_.snapshot().index && snapshot.term == state_.snapshot().term) {
    return absl::OkStatus();
  }
  BatchContent content;
  content.snapshot = SnapshotRecord{SnapshotKind::kCompaction, snapshot};
  if (absl::Status s = state_.Check(content); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("wal: refused snapshot: ", s.message()));
  }
  return Append(content, /*sync=*/true);
}

absl::Status Wal::ReleaseTo(raft::Index index) {
  if (closed_) return absl::FailedPreconditionError("wal: ReleaseTo after Close");
  if (!failed_.ok()) return failed_;
  // The snapshot that allows the removal must be durable before the removal is: it may have
  // come in a batch saved without sync.
  if (absl::Status s = SyncCurrent(); !s.ok()) return s;
  const raft::Index limit = std::min(index, state_.snapshot().index);
  while (segments_.size() > 1 && segments_[1].first_index <= limit + 1) {
    // One at a time, oldest first, each removal durable before the next: whatever a crash
    // leaves is a run of consecutive segments.
    if (absl::Status s = fs_->Remove(segments_.front().path); !s.ok()) {
      return Fail(absl::StrCat("removing ", segments_.front().path), s);
    }
    if (absl::Status s = fs_->SyncDir(dir_); !s.ok()) return Fail("fsync of " + dir_, s);
    segments_.pop_front();
  }
  return absl::OkStatus();
}

absl::Status Wal::Close() {
  if (closed_) return failed_;
  if (failed_.ok()) (void)SyncCurrent();  // on failure, failed_ says why
  preparer_.reset();
  current_.reset();
  closed_ = true;
  return failed_;
}

}  // namespace kvd::wal
