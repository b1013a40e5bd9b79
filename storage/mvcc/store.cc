#include "storage/mvcc/store.h"

#include <algorithm>
#include <filesystem>
#include <mutex>

#include "raft/check.h"
#include "rocksdb/db.h"
#include "rocksdb/iterator.h"
#include "rocksdb/table_properties.h"
#include "rocksdb/write_batch.h"
#include "storage/crc32c.h"
#include "storage/mvcc/compactor.h"
#include "storage/mvcc/errors.h"
#include "storage/mvcc/read_view.h"
#include "storage/mvcc/record.h"
#include "storage/mvcc/rocks_options.h"
#include "storage/mvcc/rocks_read.h"
#include "storage/mvcc/store_files.h"
#include "storage/strings.h"

namespace kvd::mvcc {

namespace fs = std::filesystem;

// The committed state captured for one read: revisions and a RocksDB snapshot, taken together
// under the index lock.
struct ReadState {
  rocksdb::DB* db = nullptr;
  const rocksdb::Snapshot* snapshot = nullptr;
  int64_t current = 0;
  int64_t compact = -1;

  ReadState() = default;
  ReadState(ReadState&& o) noexcept
      : db(o.db), snapshot(o.snapshot), current(o.current), compact(o.compact) {
    o.snapshot = nullptr;
  }
  ~ReadState() {
    if (snapshot != nullptr) db->ReleaseSnapshot(snapshot);
  }
  rocksdb::ReadOptions Options() const {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot;
    return ro;
  }
};

ReadState Store::BeginRead() const {
  absl::ReaderMutexLock lock(&index_mu_);
  ReadState st;
  st.db = db_.get();
  st.snapshot = db_->GetSnapshot();
  st.current = current_rev_;
  st.compact = compact_rev_;
  return st;
}

// The committed state, for reads from any thread. The index lock is held from construction
// until the one Lookup, so the revisions, the snapshot and the index agree.
class CommittedView final : public ReadView {
 public:
  explicit CommittedView(const Store& s) : store_(s) {
    s.index_mu_.ReaderLock();
    locked_ = true;
    st_.db = s.db_.get();
    st_.snapshot = s.db_->GetSnapshot();
    st_.current = s.current_rev_;
    st_.compact = s.compact_rev_;
  }
  int64_t current() const override { return st_.current; }
  int64_t compact() const override { return st_.compact; }
  void Lookup(const KeyRange& range, int64_t rev, std::vector<Revision>* revs,
              std::vector<std::string>* keys) override {
    KVD_CHECK(locked_, "CommittedView looked up twice");
    store_.index_.Range(range, rev, revs, keys);
    Unlock();
  }
  ~CommittedView() override { Unlock(); }
  absl::StatusOr<std::vector<Record>> Fetch(const std::vector<Revision>& revs) override {
    return ReadRecords(st_.db, st_.Options(), revs);
  }

 private:
  void Unlock() {
    if (locked_) store_.index_mu_.ReaderUnlock();
    locked_ = false;
  }

  const Store& store_;
  bool locked_ = false;
  ReadState st_;
};

Store::Store(std::string dir, StoreOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {}

Store::~Store() {
  KVD_CHECK(!batch_open_, "Store destroyed with an open ApplyBatch");
  StopCompactor();
  CloseDatabase();
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path,
                                                   const StoreOptions& options) {
  std::string dir = path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  // What a crash interrupted: an install's directory swap, the creation of a new store.
  if (absl::Status s = RecoverInterruptedSwap(dir, SwapOptionsOf(options)); !s.ok()) return s;
  if (absl::Status s = RemoveInterruptedCreation(dir, options); !s.ok()) return s;

  std::error_code ec;
  bool exists = fs::exists(dir, ec);
  if (ec) return ErrIo("stat " + dir, ec.message());
  bool create = !exists;
  if (exists) {
    if (!fs::is_directory(dir, ec)) return ErrNotAStore(dir, "not a directory");
    bool empty = fs::is_empty(dir, ec);
    if (ec) return ErrIo("list " + dir, ec.message());
    if (!empty && !fs::exists(fs::path(dir) / "CURRENT", ec)) {
      return ErrNotAStore(dir, "it holds files but no RocksDB database (no CURRENT file)");
    }
    if (empty && !options.create_if_missing) return ErrNotAStore(dir, "it is empty");
    create = empty;
  } else if (!options.create_if_missing) {
    return ErrNotAStore(dir, "it does not exist");
  }
  if (create) {
    if (absl::Status s = CreateDatabase(dir, options); !s.ok()) return s;
  }
  std::unique_ptr<Store> store(new Store(dir, options));
  store->block_cache_ = rocksdb::NewLRUCache(options.block_cache_bytes);
  if (absl::Status s = store->OpenDatabase(); !s.ok()) return s;
  if (absl::Status s = store->FinishInterruptedInstall(); !s.ok()) return s;
  store->StartCompactor();
  return store;
}

absl::Status Store::OpenDatabase() {
  rocksdb::Options opts = MakeRocksOptions(options_, block_cache_);
  rocksdb::DB* raw = nullptr;
  rocksdb::Status rs = rocksdb::DB::Open(opts, dir_, &raw);
  if (!rs.ok()) {
    if (rs.IsCorruption()) return ErrCorrupt(storage::Cat(dir_, ": ", rs.ToString()));
    return ErrIo("open " + dir_, rs.ToString());
  }
  db_.reset(raw);

  auto fail = [&](absl::Status s) {
    CloseDatabase();
    return s;
  };
  std::string format;
  rs = db_->Get(rocksdb::ReadOptions(), kSysFormat, &format);
  if (rs.IsNotFound()) {
    bool has_data = false;
    rocksdb::Status scan;
    {
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
      it->SeekToFirst();
      has_data = it->Valid();
      scan = it->status();
    }
    if (!scan.ok()) return fail(FromRocks(scan, "scan " + dir_));
    if (has_data) {
      return fail(ErrNotAStore(dir_, "its RocksDB database has data but no kvd format marker"));
    }
    rocksdb::WriteBatch wb;
    wb.Put(kSysFormat, kFormatValue);
    wb.Put(kSysRevision, EncodeI64(1));
    // Not flushed: if a crash loses the marker, the database is empty again and is then
    // initialized again.
    rs = db_->Write(MakeWriteOptions(options_), &wb);
    if (!rs.ok()) return fail(FromRocks(rs, "initialize " + dir_));
    format = std::string(kFormatValue);
  } else if (!rs.ok()) {
    return fail(FromRocks(rs, "read format of " + dir_));
  }
  if (format != kFormatValue) {
    return fail(ErrNotAStore(
        dir_, storage::Cat("format \"", format, "\", this build reads \"", kFormatValue, "\"")));
  }

  auto read_i64 = [&](std::string_view key, int64_t fallback, int64_t* out) -> absl::Status {
    std::string v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), key, &v);
    if (s.IsNotFound()) {
      *out = fallback;
      return absl::OkStatus();
    }
    if (!s.ok()) return FromRocks(s, storage::Cat("read ", key));
    if (!DecodeI64(v, out)) return ErrCorrupt(storage::Cat("system key ", key, " malformed"));
    return absl::OkStatus();
  };
  int64_t rev = 1, compact = -1;
  if (absl::Status s = read_i64(kSysRevision, 1, &rev); !s.ok()) return fail(s);
  if (absl::Status s = read_i64(kSysCompactScheduled, -1, &compact); !s.ok()) return fail(s);
  std::string applied;
  rs = db_->Get(rocksdb::ReadOptions(), kSysApplied, &applied);
  AppliedPosition pos;
  if (rs.ok()) {
    if (applied.size() != 16) return fail(ErrCorrupt("system key sapplied malformed"));
    pos.index = GetU64(applied.data());
    pos.term = GetU64(applied.data() + 8);
  } else if (!rs.IsNotFound()) {
    return fail(FromRocks(rs, "read sapplied"));
  }
  if (rev < 1 || compact > rev) {
    return fail(ErrCorrupt(storage::Cat("revision ", rev, " with compact revision ", compact)));
  }
  {
    absl::WriterMutexLock lock(&index_mu_);
    index_ = KeyIndex();
    current_rev_ = rev;
    compact_rev_ = compact;
    applied_ = pos;
  }
  if (absl::Status s = RebuildIndex(); !s.ok()) return fail(s);
  return absl::OkStatus();
}

absl::Status Store::RebuildIndex() {
  absl::WriterMutexLock lock(&index_mu_);
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  Revision last{0, 0};
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    char prefix = k.size() > 0 ? k[0] : '\0';
    if (prefix == kMetaPrefix || prefix == kSystemPrefix) continue;
    Revision rev;
    if (!ParseRecordKey(std::string_view(k.data(), k.size()), &rev)) {
      return ErrCorrupt(storage::Cat("unknown key of ", k.size(), " bytes with prefix 0x",
                                     storage::Hex8(static_cast<unsigned char>(prefix)).substr(6)));
    }
    if (rev <= last || rev.main > current_rev_ || rev.main < 1 || rev.sub < 0) {
      return ErrCorrupt(storage::Cat("revision ", rev.main, ".", rev.sub,
                                     " out of order or above the store revision ", current_rev_));
    }
    last = rev;
    absl::StatusOr<Record> r =
        DecodeRecord(std::string_view(it->value().data(), it->value().size()), rev);
    if (!r.ok()) return r.status();
    std::optional<KeyIndex::Head> head = index_.GetHead(r->key);
    bool live = head.has_value() && head->live;
    if (r->tombstone) {
      if (!live) {
        return ErrCorrupt(storage::Cat("delete at ", rev.main, ".", rev.sub, " of absent key"));
      }
      index_.Tombstone(r->key, rev);
    } else {
      if (r->version < 1 || r->create_revision < 1 || r->create_revision > rev.main) {
        return ErrCorrupt(storage::Cat("put at ", rev.main, ".", rev.sub, " has version ",
                                       r->version, " create revision ", r->create_revision));
      }
      index_.Put(r->key, rev, r->create_revision, r->version, r->lease);
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan revision records");
  return absl::OkStatus();
}

void Store::CloseDatabase() {
  if (db_ == nullptr) return;
  db_->Close();  // flushes memtables (avoid_flush_during_shutdown = false)
  db_.reset();
}

void Store::StartCompactor() {
  int64_t finished = -1;
  std::string v;
  if (db_->Get(rocksdb::ReadOptions(), kSysCompactFinished, &v).ok()) DecodeI64(v, &finished);
  compactor_ = std::make_unique<Compactor>(this, finished);
}

void Store::StopCompactor() { compactor_.reset(); }

// ---------------------------------------------------------------------------- reads

absl::StatusOr<etcdserverpb::RangeResponse> Store::Range(
    const etcdserverpb::RangeRequest& req) const {
  absl::ReaderMutexLock life(&lifecycle_mu_);
  CommittedView view(*this);
  return ExecuteRange(view, req);
}

absl::StatusOr<HashKVResult> Store::HashKV(int64_t revision) const {
  absl::ReaderMutexLock life(&lifecycle_mu_);
  if (revision < 0) return absl::InvalidArgumentError("mvcc: negative HashKV revision");
  ReadState st = BeginRead();
  if (revision > 0 && revision <= st.compact) return ErrCompacted();
  if (revision > st.current) return ErrFutureRevision();
  int64_t rev = revision == 0 ? st.current : revision;

  HashKVResult out;
  out.compact_revision = st.compact;
  out.hash_revision = rev;
  out.current_revision = st.current;
  uint32_t crc = storage::Crc32c(EncodeI64(st.compact));
  std::string lower = RecordKeyLowerBound(std::max<int64_t>(st.compact + 1, 0));
  std::string upper = RecordKeyLowerBound(rev + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro = st.Options();
  ro.iterate_upper_bound = &upper_slice;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    crc = storage::Crc32c(crc, std::string_view(it->key().data(), it->key().size()));
    crc = storage::Crc32c(crc, std::string_view(it->value().data(), it->value().size()));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "hash revision records");
  out.hash = crc;
  return out;
}

absl::StatusOr<EventPage> Store::ReadEvents(const EventQuery& q) const {
  absl::ReaderMutexLock life(&lifecycle_mu_);
  if (q.start_revision < 1) {
    return absl::InvalidArgumentError("mvcc: ReadEvents start revision must be at least 1");
  }
  ReadState st = BeginRead();
  if (q.start_revision < st.compact) return ErrCompacted();
  EventPage page;
  page.current_revision = st.current;
  page.compact_revision = st.compact;
  int64_t end = (q.end_revision <= 0 || q.end_revision > st.current) ? st.current : q.end_revision;
  page.next_revision = q.start_revision;
  if (q.start_revision > end) return page;

  KeyRange range = KeyRange::FromRequest(q.key, q.range_end);
  std::string upper = RecordKeyLowerBound(end + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro = st.Options();
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));

  // Records of one main revision, gathered so that revision is emitted whole.
  std::vector<std::pair<Revision, Record>> group;
  auto flush_group = [&]() -> absl::Status {
    if (group.empty()) return absl::OkStatus();
    const int64_t main = group.front().first.main;
    for (size_t i = 0; i < group.size(); ++i) {
      auto& [rev, rec] = group[i];
      if (main <= st.compact) {
        // Only what compaction keeps: a key's last change in the revision, if a put.
        if (rec.tombstone) continue;
        bool superseded = false;
        for (size_t j = i + 1; j < group.size(); ++j) superseded |= group[j].second.key == rec.key;
        if (superseded) continue;
      }
      mvccpb::Event ev;
      Revision prev = rec.prev;
      if (rec.tombstone) {
        ev.set_type(mvccpb::Event::DELETE);
        ev.mutable_kv()->set_key(rec.key);
        ev.mutable_kv()->set_mod_revision(main);
      } else {
        ev.set_type(mvccpb::Event::PUT);
        *ev.mutable_kv() = ToKeyValue(std::move(rec), rev);
      }
      if (q.prev_kv && prev.main != 0 && main > st.compact) {
        std::string v;
        rocksdb::Status s = db_->Get(ro, RecordKey(prev), &v);
        if (!s.ok()) {
          return s.IsNotFound() ? ErrCorrupt(storage::Cat("previous version ", prev.main, ".",
                                                          prev.sub, " missing"))
                                : FromRocks(s, "read previous version");
        }
        absl::StatusOr<Record> pr = DecodeRecord(v, prev);
        if (!pr.ok()) return pr.status();
        *ev.mutable_prev_kv() = ToKeyValue(*std::move(pr), prev);
      }
      page.events.push_back(std::move(ev));
    }
    group.clear();
    return absl::OkStatus();
  };

  int64_t group_main = 0;  // the revision whose records are being read
  for (it->Seek(RecordKeyLowerBound(q.start_revision)); it->Valid(); it->Next()) {
    Revision rev;
    if (!ParseRecordKey(std::string_view(it->key().data(), it->key().size()), &rev)) {
      return ErrCorrupt("malformed revision key");
    }
    if (rev.main != group_main) {
      if (group_main != 0) {
        if (absl::Status s = flush_group(); !s.ok()) return s;
        if (q.limit > 0 && page.events.size() >= q.limit) {
          page.next_revision = group_main + 1;
          return page;
        }
      }
      group_main = rev.main;
    }
    std::string_view value(it->value().data(), it->value().size());
    absl::StatusOr<std::string_view> key = DecodeRecordKey(value, rev);
    if (!key.ok()) return key.status();
    if (!range.Contains(*key)) continue;
    absl::StatusOr<Record> rec = DecodeRecord(value, rev);
    if (!rec.ok()) return rec.status();
    group.emplace_back(rev, *std::move(rec));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read history");
  if (absl::Status s = flush_group(); !s.ok()) return s;
  page.next_revision = end + 1;
  return page;
}

absl::StatusOr<std::optional<std::string>> Store::GetMeta(std::string_view key) const {
  absl::ReaderMutexLock life(&lifecycle_mu_);
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), MetaKey(key), &v);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocks(s, "read metadata");
  return v;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Store::ScanMeta(
    std::string_view prefix) const {
  absl::ReaderMutexLock life(&lifecycle_mu_);
  std::vector<std::pair<std::string, std::string>> out;
  std::string start = MetaKey(prefix);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(start); it->Valid(); it->Next()) {
    std::string_view k(it->key().data(), it->key().size());
    if (k.substr(0, start.size()) != start) break;
    out.emplace_back(std::string(k.substr(1)), it->value().ToString());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan metadata");
  return out;
}

int64_t Store::CurrentRevision() const {
  absl::ReaderMutexLock lock(&index_mu_);
  return current_rev_;
}

int64_t Store::CompactRevision() const {
  absl::ReaderMutexLock lock(&index_mu_);
  return compact_rev_;
}

AppliedPosition Store::Applied() const {
  absl::ReaderMutexLock lock(&index_mu_);
  return applied_;
}

void Store::WaitForCompaction() const {
  absl::ReaderMutexLock life(&lifecycle_mu_);
  compactor_->Wait();
}

// ---------------------------------------------------------------------------- apply thread

ApplyBatch Store::BeginBatch(const BatchOptions& options) {
  KVD_CHECK(!batch_open_, "a second ApplyBatch opened while one is open");
  batch_open_ = true;
  return ApplyBatch(this, options);
}

absl::StatusOr<AppliedPosition> Store::Flush() {
  KVD_CHECK(!batch_open_, "Flush with an open ApplyBatch");
  rocksdb::FlushOptions fo;
  fo.wait = true;
  if (absl::Status s = FromRocks(db_->Flush(fo), "flush"); !s.ok()) return s;
  return Applied();
}

std::vector<std::string> Store::KeysWithLease(int64_t lease) const {
  KVD_CHECK(!batch_open_, "Store::KeysWithLease with an open ApplyBatch");
  absl::ReaderMutexLock lock(&index_mu_);
  return index_.KeysWithLease(lease);
}

uint64_t Store::LiveDataBytes() const {
  absl::ReaderMutexLock life(&lifecycle_mu_);
  uint64_t sst = 0, mem = 0;
  db_->GetIntProperty(rocksdb::DB::Properties::kLiveSstFilesSize, &sst);
  db_->GetIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &mem);
  return sst + mem;
}

uint64_t Store::StoredBytes() const {
  absl::ReaderMutexLock life(&lifecycle_mu_);
  uint64_t bytes = 0;
  rocksdb::TablePropertiesCollection tables;
  if (db_->GetPropertiesOfAllTables(&tables).ok()) {
    for (const auto& [file, props] : tables) bytes += props->raw_key_size + props->raw_value_size;
  }
  // Every keyspace's first byte (layout.h) is below 0xff.
  const rocksdb::Range all("", "\xff");
  uint64_t entries = 0, mem = 0;
  db_->GetApproximateMemTableStats(db_->DefaultColumnFamily(), all, &entries, &mem);
  return bytes + mem;
}

absl::Status Store::CompactStorage() {
  absl::ReaderMutexLock life(&lifecycle_mu_);
  rocksdb::FlushOptions fo;
  if (absl::Status s = FromRocks(db_->Flush(fo), "flush"); !s.ok()) return s;
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  return FromRocks(db_->CompactRange(co, nullptr, nullptr), "compact storage");
}

}  // namespace kvd::mvcc
