#include "storage/mvcc/compactor.h"

#include <cstdio>
#include <mutex>
#include <set>

#include "rocksdb/db.h"
#include "rocksdb/iterator.h"
#include "rocksdb/write_batch.h"
#include "storage/mvcc/record.h"
#include "storage/mvcc/rocks_options.h"
#include "storage/mvcc/store.h"

namespace kvd::mvcc {

Compactor::Compactor(Store* store, int64_t finished)
    : store_(store), finished_(finished), cursor_{std::max<int64_t>(finished + 1, 0), 0} {
  thread_ = std::thread([this] { Run(); });
}

Compactor::~Compactor() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Compactor::Notify() {
  // Taking mu_ orders this wake-up after any predicate check that read the old revision.
  { std::lock_guard lock(mu_); }
  cv_.notify_all();
}

void Compactor::Wait() const {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return stop_ || failed_ || finished_ >= store_->CompactRevision(); });
}

void Compactor::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    int64_t target = store_->CompactRevision();
    if (failed_ || finished_ >= target) {
      cv_.wait(lock, [&] { return stop_ || (!failed_ && finished_ < store_->CompactRevision()); });
      continue;
    }
    lock.unlock();
    bool caught_up = Step(target);
    lock.lock();
    if (caught_up) {
      finished_ = target;
      cv_.notify_all();
    }
  }
}

bool Compactor::Step(int64_t target) {
  rocksdb::DB* db = store_->db_.get();
  const size_t limit = std::max<size_t>(store_->options_.compaction_batch_records, 1);
  std::string upper = RecordKeyLowerBound(target + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
  std::set<std::string> keys;
  size_t scanned = 0;
  Revision last = cursor_;
  for (it->Seek(RecordKey(cursor_)); it->Valid() && scanned < limit; it->Next(), ++scanned) {
    Revision rev;
    std::string_view k(it->key().data(), it->key().size());
    if (!ParseRecordKey(k, &rev)) break;
    absl::StatusOr<std::string_view> key =
        DecodeRecordKey(std::string_view(it->value().data(), it->value().size()), rev);
    if (!key.ok()) {
      std::fprintf(stderr, "mvcc compactor stopped: %s\n", key.status().ToString().c_str());
      std::lock_guard lock(mu_);
      failed_ = true;
      cv_.notify_all();
      return false;
    }
    keys.emplace(*key);
    last = rev;
  }
  const bool done = scanned < limit;
  if (!it->status().ok()) {
    std::fprintf(stderr, "mvcc compactor stopped: %s\n", it->status().ToString().c_str());
    std::lock_guard lock(mu_);
    failed_ = true;
    cv_.notify_all();
    return false;
  }
  it.reset();

  std::vector<Revision> dropped;
  {
    absl::WriterMutexLock lock(&store_->index_mu_);
    for (const std::string& k : keys) store_->index_.Compact(k, target, &dropped);
  }
  rocksdb::WriteBatch wb;
  for (Revision r : dropped) wb.Delete(RecordKey(r));
  if (done) wb.Put(kSysCompactFinished, EncodeI64(target));
  rocksdb::Status s = db->Write(MakeWriteOptions(store_->options_), &wb);
  if (!s.ok()) {
    std::fprintf(stderr, "mvcc compactor stopped: %s\n", s.ToString().c_str());
    std::lock_guard lock(mu_);
    failed_ = true;
    cv_.notify_all();
    return false;
  }
  cursor_ = done ? Revision{target + 1, 0} : Revision{last.main, last.sub + 1};
  return done;
}

}  // namespace kvd::mvcc
