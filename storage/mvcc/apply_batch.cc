#include "storage/mvcc/apply_batch.h"

#include <algorithm>
#include <mutex>

#include "raft/check.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/mvcc/compactor.h"
#include "storage/mvcc/errors.h"
#include "storage/mvcc/read_view.h"
#include "storage/mvcc/rocks_options.h"
#include "storage/mvcc/rocks_read.h"
#include "storage/mvcc/store.h"
#include "storage/strings.h"

namespace kvd::mvcc {

using etcdserverpb::DeleteRangeRequest;
using etcdserverpb::DeleteRangeResponse;
using etcdserverpb::PutRequest;
using etcdserverpb::PutResponse;
using etcdserverpb::RequestOp;
using etcdserverpb::TxnRequest;
using etcdserverpb::TxnResponse;

// The batch's state, including its own writes, as Range and compares read it.
class BatchView final : public ReadView {
 public:
  explicit BatchView(const ApplyBatch& b) : b_(b), current_(b.ReadRevision()) {}
  int64_t current() const override { return current_; }
  int64_t compact() const override { return b_.compact_; }
  void Lookup(const KeyRange& range, int64_t rev, std::vector<Revision>* revs,
              std::vector<std::string>* keys) override {
    absl::ReaderMutexLock lock(&b_.store_->index_mu_);
    b_.store_->index_.Range(range, rev, revs, keys);
  }
  absl::StatusOr<std::vector<Record>> Fetch(const std::vector<Revision>& revs) override {
    return b_.Fetch(revs);
  }
  // The index's newest state is this view's state exactly when the op in progress has not
  // written yet (as for a txn's compares).
  bool LookupHeads(const KeyRange& range, std::vector<KeyIndex::Head>* heads) override {
    if (current_ != b_.rev_) return false;
    absl::ReaderMutexLock lock(&b_.store_->index_mu_);
    b_.store_->index_.RangeHeads(range, heads);
    return true;
  }

 private:
  const ApplyBatch& b_;
  int64_t current_;
};

// Which branch each txn takes, decided before the txn writes anything (etcd's compareToPath):
// `nested` holds the plans of the nested txns of the chosen branch, in order.
struct ApplyBatch::TxnPlan {
  bool succeeded = false;
  std::vector<TxnPlan> nested;
};

ApplyBatch::ApplyBatch(Store* store, BatchOptions options)
    : store_(store),
      options_(std::move(options)),
      wb_(std::make_unique<rocksdb::WriteBatch>()),
      rev_(store->CurrentRevision()),
      compact_(store->CompactRevision()) {}

ApplyBatch::ApplyBatch(ApplyBatch&& o) noexcept
    : store_(o.store_),
      options_(std::move(o.options_)),
      wb_(std::move(o.wb_)),
      pending_(std::move(o.pending_)),
      pending_order_(std::move(o.pending_order_)),
      undo_(std::move(o.undo_)),
      meta_(std::move(o.meta_)),
      events_(std::move(o.events_)),
      rev_(o.rev_),
      compact_(o.compact_),
      compact_changed_(o.compact_changed_),
      op_(std::move(o.op_)),
      open_(o.open_) {
  o.open_ = false;
}

ApplyBatch::~ApplyBatch() {
  if (!open_) return;
  RollbackAll();
  store_->batch_open_ = false;
}

void ApplyBatch::RollbackAll() { RollbackIndexTo(0); }

void ApplyBatch::RollbackIndexTo(size_t mark) {
  absl::WriterMutexLock lock(&store_->index_mu_);
  while (undo_.size() > mark) {
    std::visit([this](const auto& undo) { store_->index_.Rollback(undo); }, undo_.back());
    undo_.pop_back();
  }
}

// ---------------------------------------------------------------------------- ops

void ApplyBatch::BeginOp() {
  KVD_CHECK(open_, "request applied to a committed or spent ApplyBatch");
  op_ = Op{undo_.size(), pending_order_.size(), 0, {}};
  wb_->SetSavePoint();
}

void ApplyBatch::EndOp() {
  KVD_CHECK(wb_->PopSavePoint().ok(), "no save point");
  if (op_.changes > 0) {
    ++rev_;
    events_.push_back(RevisionEvents{rev_, std::move(op_.events)});
  }
  op_ = Op{};
}

void ApplyBatch::AbortOp() {
  KVD_CHECK(wb_->RollbackToSavePoint().ok(), "no save point");
  RollbackIndexTo(op_.undo_mark);
  while (pending_order_.size() > op_.pending_mark) {
    Revision r = pending_order_.back();
    pending_.erase(std::make_pair(r.main, r.sub));
    pending_order_.pop_back();
  }
  op_ = Op{};
}

Revision ApplyBatch::WriteRecord(const Record& r) {
  KVD_CHECK(!r.tombstone, "WriteRecord of a tombstone");
  Revision rev{rev_ + 1, op_.changes++};
  std::string enc = EncodeRecord(r);
  wb_->Put(EncodeRecordKey(rev).view(), enc);
  pending_.emplace(std::make_pair(rev.main, rev.sub), std::move(enc));
  pending_order_.push_back(rev);
  absl::WriterMutexLock lock(&store_->index_mu_);
  undo_.push_back(store_->index_.Put(r.key, rev, r.create_revision, r.version, r.lease));
  return rev;
}

absl::StatusOr<std::vector<Record>> ApplyBatch::Fetch(const std::vector<Revision>& revs) const {
  std::vector<Record> out(revs.size());
  std::vector<size_t> from_db;
  for (size_t i = 0; i < revs.size(); ++i) {
    auto it = pending_.find(std::make_pair(revs[i].main, revs[i].sub));
    if (it != pending_.end()) {
      absl::StatusOr<Record> r = DecodeRecord(it->second, revs[i]);
      KVD_CHECK(r.ok(), "own record undecodable");
      out[i] = *std::move(r);
    } else {
      from_db.push_back(i);
    }
  }
  if (from_db.empty()) return out;
  std::vector<Revision> db_revs;
  db_revs.reserve(from_db.size());
  for (size_t i : from_db) db_revs.push_back(revs[i]);
  absl::StatusOr<std::vector<Record>> read =
      ReadRecords(store_->db_.get(), rocksdb::ReadOptions(), db_revs);
  if (!read.ok()) return read.status();
  for (size_t j = 0; j < from_db.size(); ++j) out[from_db[j]] = std::move((*read)[j]);
  return out;
}

absl::StatusOr<Record> ApplyBatch::FetchOne(Revision rev) const {
  absl::StatusOr<std::vector<Record>> r = Fetch({rev});
  if (!r.ok()) return r.status();
  return std::move(r->front());
}

absl::StatusOr<PutResponse> ApplyBatch::DoPut(const PutRequest& req, bool in_txn) {
  if (!in_txn && req.lease() != 0 && options_.lease_exists && !options_.lease_exists(req.lease())) {
    return ErrLeaseNotFound();
  }
  std::optional<KeyIndex::Head> head;
  {
    absl::ReaderMutexLock lock(&store_->index_mu_);
    head = store_->index_.GetHead(req.key());
  }
  const bool live = head.has_value() && head->live;
  if ((req.ignore_value() || req.ignore_lease()) && !live) return ErrKeyNotFound();

  std::optional<Record> prev;
  if (live && (req.prev_kv() || req.ignore_value() || EventPrevKvWanted())) {
    absl::StatusOr<Record> r = FetchOne(head->latest);
    if (!r.ok()) return r.status();
    prev = *std::move(r);
  }
  Record rec;
  rec.key = req.key();
  rec.value = req.ignore_value() ? prev->value : req.value();
  rec.lease = req.ignore_lease() ? head->lease : req.lease();
  rec.create_revision = live ? head->create_revision : rev_ + 1;
  rec.version = live ? head->version + 1 : 1;
  rec.prev = live ? head->latest : Revision{};
  Revision rev = WriteRecord(rec);

  PutResponse resp;
  resp.mutable_header()->set_revision(rev.main);
  std::optional<mvccpb::KeyValue> prev_kv;
  if (prev.has_value()) prev_kv = ToKeyValue(*std::move(prev), head->latest);
  if (prev_kv.has_value() && req.prev_kv()) *resp.mutable_prev_kv() = *prev_kv;
  if (EventsWanted()) {
    mvccpb::Event ev;
    ev.set_type(mvccpb::Event::PUT);
    *ev.mutable_kv() = ToKeyValue(std::move(rec), rev);
    if (prev_kv.has_value() && EventPrevKvWanted()) *ev.mutable_prev_kv() = *std::move(prev_kv);
    op_.events.push_back(std::move(ev));
  }
  return resp;
}

absl::StatusOr<DeleteRangeResponse> ApplyBatch::DoDelete(std::vector<std::string> keys,
                                                         const std::vector<Revision>& revs,
                                                         bool want_prev_kvs) {
  DeleteRangeResponse resp;
  std::vector<Record> prevs;
  if (want_prev_kvs || EventPrevKvWanted()) {
    absl::StatusOr<std::vector<Record>> r = Fetch(revs);
    if (!r.ok()) return r.status();
    prevs = *std::move(r);
  }
  if (want_prev_kvs) resp.mutable_prev_kvs()->Reserve(static_cast<int>(keys.size()));
  if (EventsWanted()) op_.events.reserve(op_.events.size() + keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const Revision rev{rev_ + 1, op_.changes++};
    EncodeTombstone(keys[i], revs[i], &scratch_);
    wb_->Put(EncodeRecordKey(rev).view(), scratch_);
    std::optional<mvccpb::KeyValue> prev_kv;
    if (!prevs.empty()) prev_kv = ToKeyValue(std::move(prevs[i]), revs[i]);
    if (want_prev_kvs) {
      if (EventPrevKvWanted()) {
        *resp.add_prev_kvs() = *prev_kv;
      } else {
        *resp.add_prev_kvs() = *std::move(prev_kv);
      }
    }
    if (EventsWanted()) {
      mvccpb::Event ev;
      ev.set_type(mvccpb::Event::DELETE);
      ev.mutable_kv()->set_key(std::move(keys[i]));
      ev.mutable_kv()->set_mod_revision(rev.main);
      if (EventPrevKvWanted()) *ev.mutable_prev_kv() = *std::move(prev_kv);
      op_.events.push_back(std::move(ev));
    }
  }
  resp.set_deleted(static_cast<int64_t>(keys.size()));
  resp.mutable_header()->set_revision(ReadRevision());
  return resp;
}

absl::StatusOr<DeleteRangeResponse> ApplyBatch::DoDeleteRange(const DeleteRangeRequest& req) {
  // One walk over the range tombstones its live keys in the index. It goes in chunks, each
  // under one hold of the index lock, so that readers wait for one chunk at most (they read at
  // the committed revision, which none of these tombstones is part of before Commit).
  constexpr size_t kChunk = 4096;
  KeyRange range = KeyRange::FromRequest(req.key(), req.range_end());
  std::vector<Revision> revs;
  std::vector<std::string> keys;
  const Revision first{rev_ + 1, op_.changes};
  while (true) {
    const size_t done = keys.size();
    KeyIndex::RangeUndo undo;
    {
      absl::WriterMutexLock lock(&store_->index_mu_);
      undo = store_->index_.TombstoneRange(
          range, Revision{first.main, first.sub + static_cast<int64_t>(done)}, kChunk, &keys,
          &revs);
    }
    if (undo.before.empty()) break;
    undo_.push_back(std::move(undo));
    if (keys.size() - done < kChunk || range.kind == KeyRange::Kind::kSingle) break;
    range.key = keys.back();
    range.key.push_back('\0');  // the next key after the last one deleted
  }
  return DoDelete(std::move(keys), revs, req.prev_kv());
}

// ---------------------------------------------------------------------------- requests

absl::StatusOr<PutResponse> ApplyBatch::Put(const PutRequest& req) {
  BeginOp();
  absl::StatusOr<PutResponse> resp = DoPut(req, /*in_txn=*/false);
  if (!resp.ok()) {
    AbortOp();
    return resp;
  }
  EndOp();
  return resp;
}

absl::StatusOr<DeleteRangeResponse> ApplyBatch::DeleteRange(const DeleteRangeRequest& req) {
  BeginOp();
  absl::StatusOr<DeleteRangeResponse> resp = DoDeleteRange(req);
  if (!resp.ok()) {
    AbortOp();
    return resp;
  }
  EndOp();
  return resp;
}

absl::StatusOr<etcdserverpb::RangeResponse> ApplyBatch::Range(
    const etcdserverpb::RangeRequest& req) {
  KVD_CHECK(open_, "Range on a committed or spent ApplyBatch");
  BatchView view(*this);
  return ExecuteRange(view, req);
}

absl::StatusOr<etcdserverpb::CompactionResponse> ApplyBatch::Compact(
    const etcdserverpb::CompactionRequest& req) {
  KVD_CHECK(open_, "Compact on a committed or spent ApplyBatch");
  if (req.revision() <= compact_) return ErrCompacted();
  if (req.revision() > rev_) return ErrFutureRevision();
  compact_ = req.revision();
  compact_changed_ = true;
  wb_->Put(kSysCompactScheduled, EncodeI64(compact_));
  etcdserverpb::CompactionResponse resp;
  resp.mutable_header()->set_revision(rev_);
  return resp;
}

absl::StatusOr<ApplyBatch::TxnPlan> ApplyBatch::PlanTxn(const TxnRequest& req) {
  TxnPlan plan;
  plan.succeeded = true;
  for (const etcdserverpb::Compare& c : req.compare()) {
    BatchView view(*this);
    absl::StatusOr<bool> ok = EvaluateCompare(view, c);
    if (!ok.ok()) return ok.status();
    if (!*ok) {
      plan.succeeded = false;
      break;
    }
  }
  for (const RequestOp& op : plan.succeeded ? req.success() : req.failure()) {
    if (op.request_case() != RequestOp::kRequestTxn) continue;
    absl::StatusOr<TxnPlan> nested = PlanTxn(op.request_txn());
    if (!nested.ok()) return nested.status();
    plan.nested.push_back(*std::move(nested));
  }
  return plan;
}

absl::Status ApplyBatch::CheckTxn(const TxnRequest& req, const TxnPlan& plan) {
  // etcd checks every put on the path first, then every range.
  auto walk = [](auto&& self, const TxnRequest& r, const TxnPlan& p, auto&& check) -> absl::Status {
    size_t nested = 0;
    for (const RequestOp& op : p.succeeded ? r.success() : r.failure()) {
      absl::Status s = op.request_case() == RequestOp::kRequestTxn
                           ? self(self, op.request_txn(), p.nested[nested++], check)
                           : check(op);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  };
  auto check_put = [&](const RequestOp& op) -> absl::Status {
    if (op.request_case() != RequestOp::kRequestPut) return absl::OkStatus();
    const PutRequest& put = op.request_put();
    if (put.ignore_value() || put.ignore_lease()) {
      absl::ReaderMutexLock lock(&store_->index_mu_);
      std::optional<KeyIndex::Head> head = store_->index_.GetHead(put.key());
      if (!head.has_value() || !head->live) return ErrKeyNotFound();
    }
    if (put.lease() != 0 && options_.lease_exists && !options_.lease_exists(put.lease())) {
      return ErrLeaseNotFound();
    }
    return absl::OkStatus();
  };
  auto check_range = [&](const RequestOp& op) -> absl::Status {
    if (op.request_case() != RequestOp::kRequestRange) return absl::OkStatus();
    int64_t rev = op.request_range().revision();
    if (rev == 0) return absl::OkStatus();
    if (rev > rev_) return ErrFutureRevision();
    if (rev < compact_) return ErrCompacted();
    return absl::OkStatus();
  };
  if (absl::Status s = walk(walk, req, plan, check_put); !s.ok()) return s;
  return walk(walk, req, plan, check_range);
}

absl::Status ApplyBatch::RunTxn(const TxnRequest& req, const TxnPlan& plan, TxnResponse* resp) {
  resp->set_succeeded(plan.succeeded);
  size_t nested = 0;
  for (const RequestOp& op : plan.succeeded ? req.success() : req.failure()) {
    etcdserverpb::ResponseOp* out = resp->add_responses();
    switch (op.request_case()) {
      case RequestOp::kRequestRange: {
        BatchView view(*this);
        absl::StatusOr<etcdserverpb::RangeResponse> r = ExecuteRange(view, op.request_range());
        if (!r.ok()) return r.status();
        *out->mutable_response_range() = *std::move(r);
        break;
      }
      case RequestOp::kRequestPut: {
        absl::StatusOr<PutResponse> r = DoPut(op.request_put(), /*in_txn=*/true);
        if (!r.ok()) return r.status();
        *out->mutable_response_put() = *std::move(r);
        break;
      }
      case RequestOp::kRequestDeleteRange: {
        absl::StatusOr<DeleteRangeResponse> r = DoDeleteRange(op.request_delete_range());
        if (!r.ok()) return r.status();
        *out->mutable_response_delete_range() = *std::move(r);
        break;
      }
      case RequestOp::kRequestTxn: {
        TxnResponse* inner = out->mutable_response_txn();
        inner->mutable_header();  // etcd leaves a nested txn's header revision at 0
        if (absl::Status s = RunTxn(op.request_txn(), plan.nested[nested++], inner); !s.ok()) {
          return s;
        }
        break;
      }
      default:
        break;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TxnResponse> ApplyBatch::Txn(const TxnRequest& req) {
  BeginOp();
  absl::StatusOr<TxnPlan> plan = PlanTxn(req);
  absl::Status s = plan.status();
  if (s.ok()) s = CheckTxn(req, *plan);
  TxnResponse resp;
  if (s.ok()) s = RunTxn(req, *plan, &resp);
  if (!s.ok()) {
    AbortOp();
    return s;
  }
  resp.mutable_header()->set_revision(ReadRevision());
  EndOp();
  return resp;
}

// ---------------------------------------------------------------------------- leases

absl::StatusOr<DeleteRangeResponse> ApplyBatch::DeleteKeys(std::vector<std::string> keys) {
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  BeginOp();
  std::vector<std::string> live;
  std::vector<Revision> revs;
  {
    absl::WriterMutexLock lock(&store_->index_mu_);
    for (std::string& k : keys) {
      std::optional<KeyIndex::Head> head = store_->index_.GetHead(k);
      if (!head.has_value() || !head->live) continue;
      const Revision rev{rev_ + 1, op_.changes + static_cast<int64_t>(live.size())};
      undo_.push_back(store_->index_.Tombstone(k, rev));
      revs.push_back(head->latest);
      live.push_back(std::move(k));
    }
  }
  absl::StatusOr<DeleteRangeResponse> resp =
      DoDelete(std::move(live), revs, /*want_prev_kvs=*/false);
  if (!resp.ok()) {
    AbortOp();
    return resp;
  }
  EndOp();
  return resp;
}

std::vector<std::string> ApplyBatch::KeysWithLease(int64_t lease) const {
  absl::ReaderMutexLock lock(&store_->index_mu_);
  return store_->index_.KeysWithLease(lease);
}

absl::StatusOr<DeleteRangeResponse> ApplyBatch::DeleteLeaseKeys(int64_t lease) {
  return DeleteKeys(KeysWithLease(lease));
}

// ---------------------------------------------------------------------------- metadata

void ApplyBatch::PutMeta(std::string_view key, std::string_view value) {
  KVD_CHECK(open_, "PutMeta on a committed or spent ApplyBatch");
  wb_->Put(MetaKey(key), value);
  meta_[std::string(key)] = std::string(value);
}

void ApplyBatch::DeleteMeta(std::string_view key) {
  KVD_CHECK(open_, "DeleteMeta on a committed or spent ApplyBatch");
  wb_->Delete(MetaKey(key));
  meta_[std::string(key)] = std::nullopt;
}

absl::StatusOr<std::optional<std::string>> ApplyBatch::GetMeta(std::string_view key) const {
  auto it = meta_.find(key);
  if (it != meta_.end()) return it->second;
  return store_->GetMeta(key);
}

// ---------------------------------------------------------------------------- commit

absl::Status ApplyBatch::Commit(uint64_t index, uint64_t term) {
  KVD_CHECK(open_, "Commit of a committed or spent ApplyBatch");
  AppliedPosition applied = store_->Applied();
  if (index <= applied.index || term < applied.term) {
    return absl::FailedPreconditionError(storage::Cat("mvcc: commit at index ", index, " term ",
                                                      term, " does not follow applied ",
                                                      applied.index, " term ", applied.term));
  }
  std::string pos;
  PutU64(&pos, index);
  PutU64(&pos, term);
  wb_->Put(kSysApplied, pos);
  wb_->Put(kSysRevision, EncodeI64(rev_));
  rocksdb::Status ws = store_->db_->Write(MakeWriteOptions(store_->options_), wb_.get());
  open_ = false;
  store_->batch_open_ = false;
  if (!ws.ok()) {
    RollbackAll();
    return FromRocks(ws, "commit apply batch");
  }
  {
    absl::WriterMutexLock lock(&store_->index_mu_);
    store_->current_rev_ = rev_;
    store_->compact_rev_ = compact_;
    store_->applied_ = AppliedPosition{index, term};
  }
  undo_.clear();
  pending_.clear();
  if (compact_changed_) store_->compactor_->Notify();
  return absl::OkStatus();
}

}  // namespace kvd::mvcc
