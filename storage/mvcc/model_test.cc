// Randomized model test: random sequences of batches of requests applied to the RocksDB store
// and to ReferenceModel, comparing every response, error, event and revision, the state at every
// uncompacted revision, history replay, and HashKV across reopen and snapshot restore.
//
//   KVD_SEED=<n>             replay the one sequence whose seed was printed
//   KVD_MODEL_SEQUENCES=<n>  how many sequences (default 1000), seeds base..base+n-1
//   KVD_MODEL_BASE_SEED=<n>  the first seed (default: from the clock, printed)
#include <chrono>
#include <cstdlib>
#include <random>

#include "gtest/gtest.h"
#include "storage/mvcc/reference_model.h"
#include "storage/mvcc/snapshot.h"
#include "storage/mvcc/testing.h"
#include "storage/mvcc/validation.h"

namespace kvd::mvcc {
namespace {

using namespace kvd::mvcc::testing;  // NOLINT
using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::RequestOp;
using etcdserverpb::TxnRequest;

std::string Describe(const absl::Status& s) {
  return std::to_string(static_cast<int>(s.code())) + " " + std::string(s.message());
}

template <typename T>
std::string Describe(const absl::StatusOr<T>& r) {
  return r.ok() ? r->ShortDebugString() : Describe(r.status());
}

class Sequence {
 public:
  explicit Sequence(uint64_t seed) : rng_(seed) {
    // Leases 1 and 2 exist, 3 does not.
    auto exists = [](int64_t l) { return l == 1 || l == 2; };
    model_.lease_exists = exists;
    batch_options_.lease_exists = exists;
    dir_ = std::make_unique<TempDir>();
    Open();
  }

  void Run() {
    const int batches = Uniform(3, 15);
    for (int b = 0; b < batches && !::testing::Test::HasFailure(); ++b) {
      RunBatch();
      int action = Uniform(0, 99);
      if (action < 5) {
        Reopen();
      } else if (action < 8) {
        SnapshotRestore();
      } else if (action < 18) {
        CheckAllRevisions();
      }
    }
    if (!::testing::Test::HasFailure()) CheckAllRevisions();
  }

 private:
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(int percent) { return Uniform(0, 99) < percent; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Uniform(0, static_cast<int>(v.size()) - 1))];
  }

  std::string Key() { return Pick<std::string>({"a", "a1", "a2", "b", "b1", "c", "d", "e"}); }
  std::string Value() { return Pick<std::string>({"", "x", "y", "z", "xx", "yy"}); }
  // A range end: none (one key), "\0" (from key), or another key (possibly before it).
  std::string RangeEnd() {
    int r = Uniform(0, 9);
    if (r < 4) return "";
    if (r < 6) return std::string(1, '\0');
    return Pick<std::string>({"a2", "b", "c", "d", "f", "z"});
  }
  int64_t Revision() {
    int r = Uniform(0, 9);
    if (r < 5) return 0;
    return Uniform(static_cast<int>(std::max<int64_t>(model_.compact() - 1, 1)),
                   static_cast<int>(model_.revision() + 1));
  }

  etcdserverpb::PutRequest RandomPut() {
    auto p = Put(Key(), Value(), Pick<int64_t>({0, 0, 1, 2, 3}));
    p.set_prev_kv(Chance(30));
    if (Chance(10)) {
      p.set_ignore_value(true);
      p.clear_value();
    }
    if (Chance(10)) {
      p.set_ignore_lease(true);
      p.set_lease(0);
    }
    return p;
  }

  etcdserverpb::DeleteRangeRequest RandomDelete() { return Del(Key(), RangeEnd(), Chance(40)); }

  RangeRequest RandomRange() {
    auto r = Get(Key(), RangeEnd(), Revision());
    if (Chance(40)) r.set_limit(Uniform(1, 4));
    if (Chance(40)) {
      r.set_sort_order(static_cast<RangeRequest::SortOrder>(Uniform(0, 2)));
      r.set_sort_target(static_cast<RangeRequest::SortTarget>(Uniform(0, 4)));
    }
    if (Chance(15)) r.set_min_mod_revision(Uniform(0, static_cast<int>(model_.revision())));
    if (Chance(15)) r.set_max_mod_revision(Uniform(0, static_cast<int>(model_.revision())));
    if (Chance(15)) r.set_min_create_revision(Uniform(0, static_cast<int>(model_.revision())));
    if (Chance(15)) r.set_max_create_revision(Uniform(0, static_cast<int>(model_.revision())));
    r.set_keys_only(Chance(15));
    r.set_count_only(Chance(10));
    return r;
  }

  Compare RandomCompare() {
    Compare c;
    c.set_key(Key());
    if (Chance(20)) c.set_range_end(RangeEnd());
    c.set_result(static_cast<Compare::CompareResult>(Uniform(0, 3)));
    c.set_target(static_cast<Compare::CompareTarget>(Uniform(0, 4)));
    switch (c.target()) {
      case Compare::VERSION:
        c.set_version(Uniform(0, 3));
        break;
      case Compare::CREATE:
        c.set_create_revision(Uniform(0, static_cast<int>(model_.revision())));
        break;
      case Compare::MOD:
        c.set_mod_revision(Uniform(0, static_cast<int>(model_.revision())));
        break;
      case Compare::VALUE:
        c.set_value(Value());
        break;
      default:
        c.set_lease(Uniform(0, 2));
        break;
    }
    return c;
  }

  TxnRequest RandomTxn(int depth) {
    TxnRequest t;
    for (int i = Uniform(0, 2); i > 0; --i) *t.add_compare() = RandomCompare();
    for (auto* ops : {t.mutable_success(), t.mutable_failure()}) {
      for (int i = Uniform(0, 3); i > 0; --i) {
        RequestOp* op = ops->Add();
        int kind = Uniform(0, depth > 0 ? 3 : 2);
        if (kind == 0) {
          *op->mutable_request_put() = RandomPut();
        } else if (kind == 1) {
          *op->mutable_request_delete_range() = RandomDelete();
        } else if (kind == 2) {
          *op->mutable_request_range() = RandomRange();
        } else {
          *op->mutable_request_txn() = RandomTxn(depth - 1);
        }
      }
    }
    return t;
  }

  template <typename A, typename B>
  void ExpectSame(const char* what, const A& store, const B& model) {
    ASSERT_EQ(Describe(store), Describe(model))
        << what << " at model revision " << model_.revision();
  }

  void RunBatch() {
    ReferenceModel before = model_;
    auto meta_before = meta_;
    ApplyBatch batch = store_->BeginBatch(batch_options_);
    const int ops = Uniform(1, 8);
    for (int i = 0; i < ops && !::testing::Test::HasFailure(); ++i) {
      int kind = Uniform(0, 99);
      if (kind < 30) {
        auto p = RandomPut();
        if (!ValidatePut(p).ok()) continue;
        ExpectSame("put", batch.Put(p), model_.Put(p));
      } else if (kind < 40) {
        auto d = RandomDelete();
        ExpectSame("delete", batch.DeleteRange(d), model_.DeleteRange(d));
      } else if (kind < 58) {
        auto r = RandomRange();
        ExpectSame("batch range", batch.Range(r), model_.Range(r));
      } else if (kind < 75) {
        auto t = RandomTxn(2);
        if (!ValidateTxn(t, 128).ok()) continue;  // the server refuses it before Raft
        ExpectSame("txn", batch.Txn(t), model_.Txn(t));
      } else if (kind < 80) {
        etcdserverpb::CompactionRequest c;
        c.set_revision(
            Uniform(static_cast<int>(model_.compact()), static_cast<int>(model_.revision() + 1)));
        ExpectSame("compact", batch.Compact(c), model_.Compact(c.revision()));
      } else if (kind < 84) {
        int64_t lease = Uniform(1, 3);
        ASSERT_EQ(batch.KeysWithLease(lease), model_.KeysWithLease(lease));
        ExpectSame("lease delete", batch.DeleteLeaseKeys(lease),
                   model_.DeleteKeys(model_.KeysWithLease(lease)));
      } else if (kind < 90) {
        std::string k = "m" + Key();
        if (Chance(70)) {
          std::string v = Value();
          batch.PutMeta(k, v);
          meta_[k] = v;
        } else {
          batch.DeleteMeta(k);
          meta_.erase(k);
        }
        auto got = batch.GetMeta(k);
        ASSERT_TRUE(got.ok());
        ASSERT_EQ(got->has_value(), meta_.count(k) > 0);
      } else {
        CheckCommittedReads();
      }
    }
    if (::testing::Test::HasFailure()) return;
    if (Chance(10)) {
      // Dropped without commit: nothing happened.
      model_ = before;
      meta_ = meta_before;
      return;
    }
    ++index_;
    ASSERT_TRUE(batch.Commit(index_, 1 + index_ / 10).ok());
    auto got = batch.TakeEvents();
    auto want = model_.TakeEvents();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].revision, want[i].revision);
      ASSERT_EQ(got[i].events.size(), want[i].events.size());
      for (size_t j = 0; j < got[i].events.size(); ++j) {
        ASSERT_EQ(got[i].events[j].ShortDebugString(), want[i].events[j].ShortDebugString());
      }
    }
    committed_ = model_;
    committed_meta_ = meta_;
    ASSERT_EQ(store_->CurrentRevision(), model_.revision());
    ASSERT_EQ(store_->CompactRevision(), model_.compact());
  }

  // Reads other threads would make while a batch is open see the last commit.
  void CheckCommittedReads() {
    auto r = RandomRange();
    ExpectSame("committed range", store_->Range(r), committed_.Range(r));
    EventQuery q;
    q.key = Key();
    q.range_end = RangeEnd();
    q.start_revision = Uniform(static_cast<int>(std::max<int64_t>(committed_.compact() - 1, 1)),
                               static_cast<int>(committed_.revision() + 1));
    q.end_revision = Chance(50) ? 0 : Uniform(1, static_cast<int>(committed_.revision() + 1));
    q.limit = static_cast<size_t>(Uniform(0, 3));
    q.prev_kv = Chance(50);
    int64_t next = 0;
    auto want = committed_.Events(q.key, q.range_end, q.start_revision, q.end_revision, q.limit,
                                  q.prev_kv, &next);
    auto got = store_->ReadEvents(q);
    ASSERT_EQ(got.ok(), want.ok()) << Describe(got.status());
    if (!got.ok()) {
      ASSERT_EQ(Describe(got.status()), Describe(want.status()));
      return;
    }
    ASSERT_EQ(got->events.size(), want->size()) << "events from " << q.start_revision;
    for (size_t i = 0; i < want->size(); ++i) {
      ASSERT_EQ(got->events[i].ShortDebugString(), (*want)[i].ShortDebugString());
    }
    ASSERT_EQ(got->next_revision, next)
        << "start " << q.start_revision << " end " << q.end_revision << " limit " << q.limit
        << " events " << got->events.size() << " current " << committed_.revision();
  }

  void CheckAllRevisions() {
    ASSERT_EQ(store_->CurrentRevision(), committed_.revision());
    ASSERT_EQ(store_->CompactRevision(), committed_.compact());
    for (int64_t rev = std::max<int64_t>(committed_.compact(), 1); rev <= committed_.revision();
         ++rev) {
      auto r = Get(std::string(1, '\0'), std::string(1, '\0'), rev);
      ExpectSame("state at revision", store_->Range(r), committed_.Range(r));
    }
    for (const auto& [k, v] : committed_meta_) {
      auto got = store_->GetMeta(k);
      ASSERT_TRUE(got.ok() && got->has_value() && **got == v) << k;
    }
    auto all = store_->ScanMeta("m");
    ASSERT_TRUE(all.ok());
    ASSERT_EQ(all->size(), committed_meta_.size());
    for (int64_t lease = 1; lease <= 3; ++lease) {
      ASSERT_EQ(store_->KeysWithLease(lease), committed_.KeysWithLease(lease));
    }
  }

  void Open() {
    auto s = Store::Open(dir_->Sub("db"), SmallStoreOptions());
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }

  void Reopen() {
    auto before = store_->HashKV(0);
    ASSERT_TRUE(before.ok());
    store_.reset();
    Open();
    ASSERT_EQ(store_->Applied().index, index_);
    auto after = store_->HashKV(0);
    ASSERT_TRUE(after.ok());
    ASSERT_EQ(after->hash, before->hash);
    CheckAllRevisions();
  }

  void SnapshotRestore() {
    auto before = store_->HashKV(0);
    ASSERT_TRUE(before.ok());
    std::string snap = dir_->Sub("snap" + std::to_string(snapshots_++));
    ASSERT_TRUE(store_->CreateSnapshot(snap).ok());
    // A fresh store in a fresh directory, with some state of its own, takes the snapshot.
    auto fresh_dir = std::make_unique<TempDir>();
    auto fresh = Store::Open(fresh_dir->Sub("db"), SmallStoreOptions());
    ASSERT_TRUE(fresh.ok());
    {
      ApplyBatch b = (*fresh)->BeginBatch();
      ASSERT_TRUE(b.Put(Put("junk", "1")).ok());
      ASSERT_TRUE(b.Commit(1, 1).ok());
    }
    std::string staging = fresh_dir->Sub("staging");
    std::filesystem::rename(snap, staging);
    ASSERT_TRUE((*fresh)->InstallSnapshot(staging).ok());
    store_ = *std::move(fresh);
    dir_ = std::move(fresh_dir);
    ASSERT_EQ(store_->Applied().index, index_);
    auto after = store_->HashKV(0);
    ASSERT_TRUE(after.ok());
    ASSERT_EQ(after->hash, before->hash);
    CheckAllRevisions();
  }

  std::mt19937_64 rng_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Store> store_;
  BatchOptions batch_options_;
  ReferenceModel model_;      // counting the open batch
  ReferenceModel committed_;  // as of the last commit
  std::map<std::string, std::string> meta_, committed_meta_;
  uint64_t index_ = 0;
  int snapshots_ = 0;
};

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

TEST(ModelTest, RandomSequencesMatchTheReferenceModel) {
  // tmpfs when there is one: this test is about semantics, and it opens many stores.
  if (std::getenv("TMPDIR") == nullptr && std::filesystem::is_directory("/dev/shm")) {
    setenv("TMPDIR", "/dev/shm", 0);
  }
  if (const char* replay = std::getenv("KVD_SEED")) {
    uint64_t seed = std::strtoull(replay, nullptr, 10);
    std::printf("replaying sequence seed %llu\n", static_cast<unsigned long long>(seed));
    Sequence(seed).Run();
    return;
  }
  const uint64_t base =
      EnvOr("KVD_MODEL_BASE_SEED",
            static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) %
                1000000007);
  const uint64_t count = EnvOr("KVD_MODEL_SEQUENCES", 1000);
  std::printf("model test: %llu sequences, seeds %llu..%llu (replay one with KVD_SEED=<seed>)\n",
              static_cast<unsigned long long>(count), static_cast<unsigned long long>(base),
              static_cast<unsigned long long>(base + count - 1));
  for (uint64_t i = 0; i < count; ++i) {
    Sequence(base + i).Run();
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "failing sequence: KVD_SEED=" << base + i;
      return;
    }
  }
}

}  // namespace
}  // namespace kvd::mvcc
