// ApplyBatch: applies committed Raft entries' requests to the store, then commits them in one
// RocksDB WriteBatch together with the Raft position of the last entry.
//
//   ApplyBatch batch = store.BeginBatch(options);  // options.record: which events to build
//   for (entry : committed entries with index > store.Applied().index) {
//     auto resp = batch.Put(req);          // or DeleteRange, Txn, Range, Compact, meta ...
//   }
//   KVD_RETURN_IF_ERROR(batch.Commit(last.index, last.term));
//   watchers.Notify(batch.TakeEvents(), options.record);
//
// Every request is atomic: it either succeeds, or fails with an etcd error and changes nothing
// (its partial work is rolled back inside the batch). Reads and compares inside the batch see
// the batch's earlier writes. Nothing is visible to other threads, nor durable, before Commit.
// A batch destroyed without a successful Commit changes nothing at all.
//
// Apply thread only; one batch open at a time; the Store must outlive the batch.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvccpb/kv.pb.h"
#include "storage/mvcc/key_index.h"
#include "storage/mvcc/layout.h"
#include "storage/mvcc/record.h"

namespace rocksdb {
class WriteBatch;
}

namespace kvd::mvcc {

class Store;
class BatchView;

// Which watch events a batch builds. Watchers decide it (the watch hub asks for what its
// watchers need at the moment a batch begins); the store only follows it.
struct EventRecording {
  // Build the events TakeEvents returns. False (nothing consumes events, e.g. no watchers):
  // TakeEvents returns revisions without events, and no previous version is read for them.
  bool events = true;
  // Attach prev_kv to the events of Put and delete (costs one record read per overwritten or
  // deleted key). Meaningful only with events.
  bool prev_kv = true;
  bool operator==(const EventRecording&) const = default;
};

struct BatchOptions {
  // Asked for every Put with a non-zero lease (etcd checks lease existence at apply time): false
  // fails the request with LeaseNotFound. Unset: every lease is accepted.
  std::function<bool(int64_t lease)> lease_exists;
  EventRecording record;
};

// The changes one revision made, in sub-revision order, as watchers receive them.
struct RevisionEvents {
  int64_t revision = 0;
  std::vector<mvccpb::Event> events;
};

class ApplyBatch {
 public:
  ApplyBatch(ApplyBatch&&) noexcept;
  ApplyBatch& operator=(ApplyBatch&&) = delete;
  ApplyBatch(const ApplyBatch&) = delete;
  ~ApplyBatch();  // without Commit: rolls everything back

  // ---- etcd requests (etcdserver/apply.go semantics). Header: only `revision` is set.

  // Errors: LeaseNotFound, then KeyNotFound (ignore_value/ignore_lease on a missing key).
  absl::StatusOr<etcdserverpb::PutResponse> Put(const etcdserverpb::PutRequest& req);
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteRange(
      const etcdserverpb::DeleteRangeRequest& req);
  // Compares and nested compares are evaluated first, against the state before the txn (as
  // etcd does); then every put on the chosen path is checked (KeyNotFound, LeaseNotFound), then
  // every range's revision (FutureRevision, Compacted); then the ops run in order, each read
  // seeing the txn's earlier writes, all writes sharing one main revision. The caller should
  // have run ValidateTxn (validation.h) before proposing; a txn that breaks its duplicate-key
  // rule and fails halfway is rolled back and returns the error.
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& req);
  absl::StatusOr<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& req);
  // Errors: Compacted (revision <= compact revision), FutureRevision (> current revision).
  absl::StatusOr<etcdserverpb::CompactionResponse> Compact(
      const etcdserverpb::CompactionRequest& req);

  // ---- Lease support.

  // Deletes every existing key of `keys` in one revision (key order), as a lease revocation
  // must so that watchers see the deletes together. Keys that do not exist are skipped; if none
  // exists no revision is made. Returns `deleted` and the header revision like DeleteRange.
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteKeys(std::vector<std::string> keys);
  // Keys currently attached to `lease`, counting this batch's writes.
  std::vector<std::string> KeysWithLease(int64_t lease) const;
  // DeleteKeys(KeysWithLease(lease)).
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteLeaseKeys(int64_t lease);

  // ---- Server metadata, written in the same WriteBatch.
  void PutMeta(std::string_view key, std::string_view value);
  void DeleteMeta(std::string_view key);
  // Counts this batch's PutMeta/DeleteMeta.
  absl::StatusOr<std::optional<std::string>> GetMeta(std::string_view key) const;

  // The revision a read at revision 0 would see now (counting this batch).
  int64_t CurrentRevision() const { return rev_; }
  int64_t CompactRevision() const { return compact_; }

  // Writes everything and the applied position atomically, then makes it visible to readers.
  // `index` must be greater than the store's applied index and `term` at least its term
  // (FailedPrecondition otherwise, nothing written). On an Io error nothing was changed and the
  // batch is spent. After success the batch accepts nothing but TakeEvents.
  absl::Status Commit(uint64_t index, uint64_t term);

  // The events of every revision this batch made, in order (meant after Commit).
  std::vector<RevisionEvents> TakeEvents() { return std::move(events_); }

 private:
  friend class Store;
  friend class BatchView;
  ApplyBatch(Store* store, BatchOptions options);

  // One write request in progress: its changes share main revision rev_ + 1.
  struct Op {
    size_t undo_mark = 0;
    size_t pending_mark = 0;
    int64_t changes = 0;
    std::vector<mvccpb::Event> events;
  };
  void BeginOp();
  // Success: the op's changes (if any) become revision rev_ + 1.
  void EndOp();
  // Failure: takes back everything since BeginOp.
  void AbortOp();
  // The revision reads inside the current op see.
  int64_t ReadRevision() const { return rev_ + (op_.changes > 0 ? 1 : 0); }

  absl::StatusOr<etcdserverpb::PutResponse> DoPut(const etcdserverpb::PutRequest& req, bool in_txn);
  // Writes the records (and events) of deletes the index already holds: keys[i], whose deleted
  // version is revs[i], tombstoned at sub revision op_.changes + i. Consumes `keys`.
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DoDelete(std::vector<std::string> keys,
                                                             const std::vector<Revision>& revs,
                                                             bool want_prev_kvs);
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DoDeleteRange(
      const etcdserverpb::DeleteRangeRequest& req);
  struct TxnPlan;
  absl::StatusOr<TxnPlan> PlanTxn(const etcdserverpb::TxnRequest& req);
  absl::Status CheckTxn(const etcdserverpb::TxnRequest& req, const TxnPlan& plan);
  absl::Status RunTxn(const etcdserverpb::TxnRequest& req, const TxnPlan& plan,
                      etcdserverpb::TxnResponse* resp);

  // Writes a put record at the next sub revision of the op and indexes it.
  Revision WriteRecord(const Record& r);
  // Whether events are built, and with the previous versions.
  bool EventsWanted() const { return options_.record.events; }
  bool EventPrevKvWanted() const { return options_.record.events && options_.record.prev_kv; }
  // Records by revision: this batch's first, then the database.
  absl::StatusOr<std::vector<Record>> Fetch(const std::vector<Revision>& revs) const;
  absl::StatusOr<Record> FetchOne(Revision rev) const;
  void RollbackAll();
  // Takes back the index changes after the first `mark` ones.
  void RollbackIndexTo(size_t mark);

  Store* store_;
  BatchOptions options_;
  std::unique_ptr<rocksdb::WriteBatch> wb_;
  // Encoded put records written by this batch, and the order they were written in (tombstones
  // are never read back: the index never points a read at one).
  absl::flat_hash_map<std::pair<int64_t, int64_t>, std::string> pending_;
  std::vector<Revision> pending_order_;
  // Index changes in the order they were made; taken back newest first.
  std::vector<std::variant<KeyIndex::Undo, KeyIndex::RangeUndo>> undo_;
  // Reused buffer for encoding tombstones.
  std::string scratch_;
  std::map<std::string, std::optional<std::string>, std::less<>> meta_;
  std::vector<RevisionEvents> events_;
  int64_t rev_;
  int64_t compact_;
  bool compact_changed_ = false;
  Op op_;
  bool open_ = true;  // false once committed, spent, or moved from
};

}  // namespace kvd::mvcc
