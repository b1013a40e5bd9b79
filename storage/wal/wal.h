// Wal: the Raft log and hard state of one member, on disk.
//
// The on-disk format (FORMAT VERSION 1) is documented in storage/wal/wal_format.h; this header
// gives the contract and the recovery rules.
//
// WHAT IS STORED. A sequence of batches in segment files. Each Save() is one batch: an installed
// snapshot (optional), entries (optional; the first may be at an index already in the log, which
// replaces that entry and all after it), a hard state (optional) — step 2 of a Raft Ready, in
// the order the Ready contract gives (raft/rawnode.h). SaveSnapshot() records that a snapshot of
// this member's state machine covers the log up to an index, after which ReleaseTo() may remove
// the segments that only hold entries up to it.
//
// DURABILITY. When Save() returns OK with sync set, the batch and everything before it is on
// disk: one write(2) of the whole batch and one fdatasync, whatever the batch size. A batch
// saved with sync unset becomes durable with the next synced Save, SaveSnapshot, ReleaseTo,
// segment cut or Close. A batch is atomic at recovery: all of it or none of it.
//
// FAILURE. If a write, fdatasync, preallocation, rename, remove or directory sync fails, the
// call that hit it returns an error and the WAL is dead: every later call returns that error.
// Nothing written since the last successful fdatasync can be assumed to be on disk: after a
// failed fdatasync Linux may have dropped the dirty pages and marked them clean, so a retry
// would "succeed" without writing them (PostgreSQL's fsyncgate). The caller must stop the
// process; restarting recovers what is on disk by the rules below. Errors that are not I/O
// failures are InvalidArgument: the batch breaks a rule of the log (an entry that would leave a
// gap or replace a committed entry, a hard state whose term or commit goes back, a snapshot
// older than the current one, ...). Nothing was written and the WAL stays usable; it means the
// caller has a bug.
//
// RECOVERY (Open). Segments are read oldest first, batch by batch, each record checked against
// its CRC32C and each batch against the log's rules (storage/wal/log_state.h). Each segment is
// read from the disk, not from the page cache: Open first syncs it and evicts its cached pages
// (FileSystem::EvictCachedPages), because a batch whose fdatasync failed before the restart can
// still be cached, marked clean, though it never reached the disk; read from the cache it would
// be taken for durable and lost at the next power cut. What Open returns is on disk.
//  1. A torn tail is cut off: when reading stops at a frame that is all zeros or does not
//     verify, and nothing after it proves that the stopped batch was acknowledged, that batch
//     and everything after it are zeroed and Open returns a notice naming the file and byte
//     range. Preallocated, never-written space reads as zeros and ends the data cleanly (no
//     notice). A batch proves the batches before it acknowledged through its `synced seq`: the
//     batch numbered there had been fdatasynced before it was written. So a write torn in any
//     order (pages of one unsynced write reaching the disk out of order, or several unsynced
//     writes) is cut off, while damage to a batch that had been acknowledged is corruption.
//  2. Corruption refuses to open, with an error (DataLoss) naming the file and byte offset: a
//     record that does not verify followed by proof that it had been acknowledged, which
//     includes any damage in a segment older than the newest one that holds data (the WAL
//     syncs a segment before it writes the next); a record that verifies but breaks the format
//     or the log's rules; a segment header that does not verify or names another segment or
//     another WAL.
//  3. A missing segment is an error: the segment seqs present must be consecutive, the oldest
//     segment must connect to the latest snapshot (no entries missing between them), and only
//     the newest segment may hold no batch (the next segment, prepared in advance).
//  4. A segment header from another format version refuses to open (FailedPrecondition, saying
//     which version wrote it and which this build reads).
// Limits. Only a batch's successors can prove it acknowledged: its own header is written before
// its fdatasync, and a torn write can leave a complete batch N on disk after an incomplete N-1
// (pages of unsynced writes reach the disk in any order), so N cannot vouch for N-1 either.
// Call the unproven tail the batches after the highest seq that some batch on disk names as
// synced. Damage confined to the unproven tail is indistinguishable from a torn write: recovery
// cuts at the first damaged batch and discards everything after it, intact batches included,
// and says so in the notice. The unproven tail holds the newest acknowledged batch when nothing
// was written after it, and also the batches saved without sync just before it: a synced batch
// N that follows unsynced batches N-k .. N-1 names N-k-1 as synced, so until a batch written
// after N's fdatasync names N, damage to any one of N-k .. N (bit rot after the fdatasync, not
// a torn write) takes N with it though N was acknowledged and is intact. Narrowing this would
// take a second write and fdatasync per synced batch (a commit record after the data), which
// the WAL does not pay; etcd's WAL has the same limit. Deleting the newest segment by hand goes
// unnoticed unless the prepared next segment exists.
//
// USE FROM THE RAFT LOOP (step 2 of each Ready):
//   WalBatch b;
//   b.snapshot = rd.snapshot.IsEmpty() ? nullptr : &rd.snapshot.metadata;  // data saved first
//   b.entries = rd.entries;
//   b.hard_state = rd.hard_state ? &*rd.hard_state : nullptr;
//   b.sync = rd.must_sync;
//   if (absl::Status s = wal.Save(b); !s.ok()) crash(s);
// An installed snapshot's data must be durable (in snap/) before the batch that installs it is
// saved, so the WAL never names a snapshot that is not on disk. After this member takes a
// snapshot of its own state machine at applied index i (its data durable too):
// SaveSnapshot({conf state, i, term of i}), then ReleaseTo(i).
//
// THREAD-SAFETY. Not thread-safe: one thread (the server's Raft loop) calls every method. The
// WAL may run one thread of its own to prepare the next segment in the background.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/types.h"
#include "storage/fs/file_system.h"
#include "storage/wal/log_state.h"
#include "storage/wal/segment_preparer.h"

namespace kvd::wal {

struct WalOptions {
  // A batch that would take a segment past this size starts the next segment. (A single batch
  // larger than this gets a segment to itself, larger than this.)
  uint64_t segment_bytes = uint64_t{64} << 20;
  // Prepare the next segment on a thread of the WAL's own (off the append path), or inline,
  // right after a segment is started (deterministic, for tests that count file system
  // operations). The files on disk go through the same states either way.
  bool prepare_segments_in_background = true;
  // Overwrite a new segment with zeros before use (see segment_preparer.h for why).
  bool zero_fill_segments = true;
  // Create a new, empty WAL when the directory holds no segment; otherwise that is NotFound.
  bool create_if_missing = true;
};

// What Open recovered.
struct RecoveredLog {
  raft::HardState hard_state;        // IsEmpty() when none was saved
  raft::SnapshotMetadata snapshot;   // index 0 when none was saved
  std::vector<raft::Entry> entries;  // snapshot.index + 1, snapshot.index + 2, ...
  // What recovery did that an operator should know of (a torn tail cut off, leftover files
  // removed), one line each, for the caller to log.
  std::vector<std::string> notices;

  raft::Index first_index() const { return snapshot.index + 1; }
  raft::Index last_index() const { return snapshot.index + entries.size(); }
};

// One Save: step 2 of a Raft Ready.
struct WalBatch {
  const raft::SnapshotMetadata* snapshot = nullptr;  // a snapshot installed from the leader
  std::span<const raft::Entry> entries;
  const raft::HardState* hard_state = nullptr;
  bool sync = true;  // Ready::must_sync
};

class Wal {
 public:
  struct Opened;

  // Opens the WAL in dir, recovering it by the rules above, or creates an empty one there
  // (creating dir too) if it holds no segment and options.create_if_missing. The file system
  // must outlive the Wal.
  static absl::StatusOr<Opened> Open(fs::FileSystem* fs, std::string dir, WalOptions options);

  ~Wal();  // stops the background thread and closes files; syncs nothing (call Close for that)
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  // Appends one batch (see WHAT IS STORED, DURABILITY, FAILURE). An empty batch is a no-op.
  absl::Status Save(const WalBatch& batch);
  absl::Status Save(const raft::HardState* hard_state, std::span<const raft::Entry> entries) {
    WalBatch batch;
    batch.entries = entries;
    batch.hard_state = hard_state;
    return Save(batch);
  }

  // Records, durably, that this member's own snapshot covers the log up to snapshot.index
  // (which must be committed and in the log, with snapshot.term). Entries after it are kept.
  // Recording the current snapshot again is a no-op.
  absl::Status SaveSnapshot(const raft::SnapshotMetadata& snapshot);

  // Removes the oldest segments as long as everything in them is covered by the latest
  // snapshot and up to index: a segment goes when the next one starts at or below
  // min(index, snapshot index) + 1. Never removes the segment being written. Makes any batch
  // saved without sync durable first (the snapshot that allows the removal may be in one).
  absl::Status ReleaseTo(raft::Index index);

  // Syncs anything saved without sync, stops the background thread, closes the files. Every
  // later call fails.
  absl::Status Close();

  // The log as saved so far.
  raft::Index first_index() const { return state_.snapshot().index + 1; }
  raft::Index last_index() const { return state_.last_index(); }
  const raft::SnapshotMetadata& snapshot() const { return state_.snapshot(); }
  const raft::HardState& hard_state() const { return state_.hard_state(); }
  // OK while usable; the error that killed it otherwise.
  const absl::Status& health() const { return failed_; }
  // Seqs of the segments holding data, oldest first (the prepared next one is not counted).
  std::vector<uint64_t> SegmentSeqs() const;

 private:
  struct Segment {
    uint64_t seq = 0;
    std::string path;
    raft::Index first_index = 0;
  };
  struct OpenSegment {
    uint64_t seq = 0;
    uint32_t seed = 0;
    std::unique_ptr<fs::WritableFile> file;
    uint64_t end = 0;  // where the next batch goes
    uint64_t batches = 0;
    bool unsynced = false;
  };

  Wal(fs::FileSystem* fs, std::string dir, WalOptions options, uint64_t wal_id);

  // Marks the WAL dead with an error naming what failed, and returns that error.
  absl::Status Fail(std::string_view what, const absl::Status& cause);
  // Writes content as the next batch(es), starting a segment first when needed.
  absl::Status Append(const BatchContent& content, bool sync);
  // fdatasync of the segment being written if a batch was saved there without sync.
  absl::Status SyncCurrent();
  // Makes the prepared segment the one being written.
  absl::Status StartNextSegment();
  uint64_t EncodedBytes(const BatchContent& content) const;
  void Encode(const BatchContent& content, uint32_t seed);

  fs::FileSystem* const fs_;
  const std::string dir_;
  const WalOptions options_;
  const uint64_t wal_id_;

  LogState state_;
  std::deque<Segment> segments_;          // holding data, oldest first; the last one is current_
  std::unique_ptr<OpenSegment> current_;  // null until the first batch of a new WAL
  uint64_t spare_seq_ = 0;                // the prepared (or in preparation) next segment
  bool spare_ready_ = false;              // spare_seq_ is on disk, ready to use
  std::unique_ptr<SegmentPreparer> preparer_;
  uint64_t next_batch_seq_ = 1;
  uint64_t synced_batch_seq_ = 0;
  std::string buffer_;  // the batch being encoded; reused
  absl::Status failed_;
  bool closed_ = false;
};

struct Wal::Opened {
  std::unique_ptr<Wal> wal;
  RecoveredLog log;
};

}  // namespace kvd::wal
