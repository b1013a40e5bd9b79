// Store: kvd's MVCC state machine on RocksDB, with etcd v3's semantics for Range, Put,
// DeleteRange, Txn, Compact and HashKV. The on-disk layout is in layout.h and record.h, the
// errors in errors.h, the request pre-checks the server runs before Raft in validation.h.
//
// Revisions. Every write request that changes something (a Put, a DeleteRange that deletes at
// least one key, a Txn with at least one such change) gets the next main revision; its changes
// are numbered by sub revision from 0. An empty store is at revision 1, so the first write gets
// revision 2 (etcd's convention). The compact revision starts at -1 (never compacted).
//
// Applying. The server applies committed Raft entries through ApplyBatch (apply_batch.h): one
// batch holds any number of requests and is written in one RocksDB WriteBatch together with the
// Raft index and term of its last entry (the "consistent index"). After a crash the store
// reopens at the applied index of some committed batch, never in between, and the server
// replays its Raft log from the entry after Applied().index. With RocksDB's WAL off (the
// default) a crash loses every batch since the last flush (Flush() or RocksDB's own when a
// memtable fills): the server must keep Raft entries above the applied index of its last
// Flush() and must Flush() before it compacts its Raft log.
//
// Concurrency contract.
//   - One thread, the apply thread, calls BeginBatch, everything on an ApplyBatch, Flush,
//     KeysWithLease, CreateSnapshot and InstallSnapshot. At most one batch is open at a time.
//   - Any thread, concurrently with each other and with the apply thread, may call Range,
//     HashKV, ReadEvents, GetMeta, ScanMeta, CurrentRevision, CompactRevision, Applied and
//     WaitForCompaction. They see committed batches only, each call one consistent revision
//     (the in-memory index is read under a shared lock, the records from a RocksDB snapshot
//     taken under that same lock). A batch becomes visible to them at its Commit, all at once.
//   - InstallSnapshot blocks those readers while it swaps the database (they wait, then read
//     the new state). Nothing else the apply thread does waits for readers longer than an index
//     lookup, and readers never wait for the apply thread longer than one index change.
//   - A background thread removes compacted history (see Compact below); it takes the index
//     lock exclusively for one chunk of at most StoreOptions::compaction_batch_records records.
//   - The Store must outlive every ApplyBatch; destroying it with no thread inside it closes
//     the database (flushing memtables).
//
// Compaction. Compact(C) inside a batch makes reads below C fail at once (for the batch; for
// other readers from its Commit). Physical removal of the history it drops then runs in the
// background in chunks (each one RocksDB write), so the apply path never waits for it; it is
// recorded as finished in the system key scompact_finished and resumes after a restart. Every
// result (Range, HashKV, ReadEvents) is the same whether or not physical removal has finished.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvccpb/kv.pb.h"
#include "storage/mvcc/apply_batch.h"
#include "storage/mvcc/key_index.h"
#include "storage/mvcc/layout.h"

namespace rocksdb {
class Cache;
class DB;
class Env;
}  // namespace rocksdb

namespace kvd::mvcc {

class Compactor;
struct ReadState;

struct StoreOptions {
  // Open creates a new store in a missing or empty directory; false makes that an error.
  bool create_if_missing = true;
  // Write RocksDB's own WAL. Off by default: the Raft WAL is the log (see the header comment).
  bool rocksdb_wal = false;
  // With rocksdb_wal, fsync the RocksDB WAL at every Commit.
  bool sync_commits = false;
  // Uncompressed data blocks cached in memory (LRU, shared by every table).
  size_t block_cache_bytes = size_t{64} << 20;
  // Size of one memtable; RocksDB flushes a full one in the background.
  size_t write_buffer_bytes = size_t{64} << 20;
  // Physical compaction removes at most this many revision records per step (one RocksDB
  // write, one exclusive hold of the index lock).
  size_t compaction_batch_records = 1000;

  // ---- For tests (crash and fault injection); the defaults are what a server runs with.
  // The Env RocksDB runs on; null is RocksDB's default. Must outlive the store.
  rocksdb::Env* env = nullptr;
  // Called before each step of the store's own that changes the disk outside RocksDB (the
  // renames, removals and fsyncs of creating a store, installing a snapshot and recovering an
  // interrupted install), with a description of the step. A non-OK result fails the step as if
  // its system call had; the hook may also kill the process. Null: none.
  std::function<absl::Status(std::string_view step)> before_step;
};

// The Raft position the store's state corresponds to.
struct AppliedPosition {
  uint64_t index = 0;
  uint64_t term = 0;
  friend bool operator==(const AppliedPosition&, const AppliedPosition&) = default;
};

struct HashKVResult {
  uint32_t hash = 0;
  int64_t compact_revision = -1;  // the compact revision the hash starts after
  int64_t hash_revision = 0;      // the revision hashed up to
  int64_t current_revision = 0;   // the store's revision when hashed (etcd's header revision)
};

// ReadEvents: the changes to keys in [key, range_end) (etcd's range rules: empty range_end is
// one key, "\0" every key >= key) with start_revision <= main <= end_revision.
struct EventQuery {
  std::string key;
  std::string range_end;
  int64_t start_revision = 1;
  int64_t end_revision = 0;  // 0 or above the current revision: up to the current revision
  // Stop after the revision in which the page reached this many events (0: no limit). A page
  // never splits a revision, so watchers see the changes of one revision together.
  size_t limit = 0;
  // Attach the key's previous version to each event (none if it was created by the event or
  // its previous version is compacted).
  bool prev_kv = false;
};

struct EventPage {
  std::vector<mvccpb::Event> events;  // in revision order
  int64_t next_revision = 0;          // the first revision this page does not cover
  int64_t current_revision = 0;
  int64_t compact_revision = -1;
};

// The metadata of a snapshot made by CreateSnapshot (see snapshot.h for its files).
struct SnapshotInfo {
  int format_version = 0;
  AppliedPosition applied;
  int64_t revision = 0;
  int64_t compact_revision = -1;
  struct File {
    std::string name;  // relative to the snapshot directory; never contains '/'
    uint64_t size = 0;
    uint32_t crc32c = 0;
  };
  std::vector<File> files;  // the data files; the manifest itself is kSnapshotManifest
};

class Store {
 public:
  // Opens (or, per options, creates) the store in `dir`. Errors: NotAStore for a directory
  // holding something else or another format version, Corrupt for damaged data, Io otherwise.
  //
  // Creation: a missing or empty `dir` gets a new database, built in "<dir>.creating" and
  // renamed into place (replacing the empty directory) once RocksDB has written it, the parent
  // directory fsynced; a crash during creation leaves `dir` as it was, and "<dir>.creating" is
  // removed at the next open.
  //
  // Recovery, before anything else: a snapshot install a crash interrupted is finished or
  // undone (directory_swap.h: "<dir>.replaced" is put back or removed), and a database that a
  // crash left with the install's manifest still in it (the swap was done, the check after it
  // not) is checked against that manifest now: Corrupt if it disagrees.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& dir,
                                                     const StoreOptions& options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // ---- Reads: any thread (see the concurrency contract).

  // etcd's Range over the committed state. Errors: Compacted, FutureRevision, Corrupt.
  absl::StatusOr<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& req) const;

  // CRC-32C over the big-endian compact revision followed by, in revision order, the key and
  // value bytes (layout.h, record.h) of every revision record with compact < main <= revision.
  // revision 0 means the current one. Equal on every member with the same history, whether or
  // not compaction finished. Errors: Compacted (0 < revision <= compact), FutureRevision,
  // InvalidArgument (revision < 0).
  absl::StatusOr<HashKVResult> HashKV(int64_t revision) const;

  // Replays history for watchers catching up. Errors: Compacted (start_revision < the compact
  // revision), InvalidArgument (start_revision < 1). Changes at exactly the compact revision are
  // those that survive compaction (the last put of each key in that revision).
  absl::StatusOr<EventPage> ReadEvents(const EventQuery& query) const;

  // The server's metadata, committed state.
  absl::StatusOr<std::optional<std::string>> GetMeta(std::string_view key) const;
  // Every metadata entry whose key starts with `prefix`, in key order.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ScanMeta(
      std::string_view prefix) const;

  int64_t CurrentRevision() const;
  int64_t CompactRevision() const;
  AppliedPosition Applied() const;

  // Blocks until the history dropped by the last committed Compact is physically removed.
  void WaitForCompaction() const;

  // ---- Apply thread only.

  // Opens a batch. At most one may be open; the Store must outlive it.
  ApplyBatch BeginBatch(const BatchOptions& options = {});

  // Makes every committed batch durable (flushes memtables) and returns the applied position
  // that is now durable. Requires no open batch.
  absl::StatusOr<AppliedPosition> Flush();

  // Keys whose current version is attached to `lease`, in key order: an in-memory index lookup,
  // O(keys of that lease). Requires no open batch (ApplyBatch has its own).
  std::vector<std::string> KeysWithLease(int64_t lease) const;

  // Writes a consistent snapshot of the committed state into `dir`, which must not exist:
  // flush, RocksDB checkpoint (hard links where possible), then a manifest. Requires no open
  // batch.
  absl::StatusOr<SnapshotInfo> CreateSnapshot(const std::string& dir);

  // Replaces the whole state with the snapshot received in `dir` (same filesystem as the store's
  // directory): verifies the manifest and every file's size and CRC, fsyncs, swaps it with the
  // store's directory (directory_swap.h), reopens, rebuilds the index and checks the state
  // against the manifest. `dir` is consumed on success. On error the store keeps its previous
  // state and `dir` its snapshot; if the previous state cannot be put back and reopened, the
  // process aborts (KVD_CHECK), and the next Open recovers it. After a crash the next Open
  // finds the previous state with `dir` untouched, or (once the snapshot has been renamed into
  // place) the snapshot's state with `dir` gone; never anything else. Requires no open batch;
  // blocks readers while swapping.
  absl::Status InstallSnapshot(const std::string& dir);

  // Bytes of the live RocksDB files (SST and memtables' flushed output), for benchmarks.
  uint64_t LiveDataBytes() const;
  // Uncompressed bytes of every entry the database holds (keys and values of the live SST files
  // as their table properties count them, plus the entries in memtables): the same on members
  // with the same data, whether or not they flushed or compressed it yet. Costs a walk over the
  // live files' cached properties; any thread.
  uint64_t StoredBytes() const;
  // Memtables flushed, then every level compacted (benchmarks measure size after this).
  absl::Status CompactStorage();

 private:
  friend class ApplyBatch;
  friend class Compactor;
  friend class CommittedView;
  friend class BatchView;

  Store(std::string dir, StoreOptions options);
  // Opens the existing RocksDB database in dir_ (never creates one), loads the system keys and
  // rebuilds the index.
  absl::Status OpenDatabase();
  // After OpenDatabase: if dir_ still holds a snapshot manifest (an install interrupted after
  // its swap), checks the state against it and removes it.
  absl::Status FinishInterruptedInstall();
  // Whether the opened state is the one `info` describes.
  bool StateMatches(const SnapshotInfo& info) const;
  // Removes dir_'s snapshot manifest, durably: the last step of an install.
  absl::Status RemoveManifest();
  void CloseDatabase();
  absl::Status RebuildIndex();
  void StartCompactor();
  void StopCompactor();

  // Captures the committed state for one read: revisions, snapshot.
  ReadState BeginRead() const;

  const std::string dir_;
  const StoreOptions options_;

  // Held shared by every reader for a whole call; exclusive while InstallSnapshot swaps db_.
  mutable absl::Mutex lifecycle_mu_;
  std::shared_ptr<rocksdb::Cache> block_cache_;
  std::unique_ptr<rocksdb::DB> db_;

  // Guards the index and the committed revisions below.
  mutable absl::Mutex index_mu_;
  KeyIndex index_;
  int64_t current_rev_ = 1;
  int64_t compact_rev_ = -1;
  AppliedPosition applied_;

  bool batch_open_ = false;  // apply thread only
  std::unique_ptr<Compactor> compactor_;
};

}  // namespace kvd::mvcc
