// Test helpers for the MVCC store: temporary directories, request builders, and a fixture
// that applies each request in its own batch at the next Raft index.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "etcdserverpb/rpc.pb.h"
#include "gtest/gtest.h"
#include "storage/mvcc/store.h"

namespace kvd::mvcc::testing {

// A fresh directory under TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/kvd-mvcc-XXXXXX";
    path_ = mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
    EXPECT_FALSE(path_.empty());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Store options for tests: small memtables and cache (RocksDB's arena blocks are an eighth of a
// memtable, and the sanitizers make every fresh page expensive).
inline StoreOptions SmallStoreOptions() {
  StoreOptions o;
  o.write_buffer_bytes = size_t{1} << 20;
  o.block_cache_bytes = size_t{8} << 20;
  return o;
}

inline etcdserverpb::PutRequest Put(std::string key, std::string value, int64_t lease = 0) {
  etcdserverpb::PutRequest r;
  r.set_key(std::move(key));
  r.set_value(std::move(value));
  r.set_lease(lease);
  return r;
}

inline etcdserverpb::RangeRequest Get(std::string key, std::string range_end = "",
                                      int64_t revision = 0) {
  etcdserverpb::RangeRequest r;
  r.set_key(std::move(key));
  r.set_range_end(std::move(range_end));
  r.set_revision(revision);
  return r;
}

inline etcdserverpb::DeleteRangeRequest Del(std::string key, std::string range_end = "",
                                            bool prev_kv = false) {
  etcdserverpb::DeleteRangeRequest r;
  r.set_key(std::move(key));
  r.set_range_end(std::move(range_end));
  r.set_prev_kv(prev_kv);
  return r;
}

inline etcdserverpb::RequestOp OpPut(std::string key, std::string value) {
  etcdserverpb::RequestOp op;
  *op.mutable_request_put() = Put(std::move(key), std::move(value));
  return op;
}
inline etcdserverpb::RequestOp OpGet(std::string key, std::string range_end = "") {
  etcdserverpb::RequestOp op;
  *op.mutable_request_range() = Get(std::move(key), std::move(range_end));
  return op;
}
inline etcdserverpb::RequestOp OpDel(std::string key, std::string range_end = "") {
  etcdserverpb::RequestOp op;
  *op.mutable_request_delete_range() = Del(std::move(key), std::move(range_end));
  return op;
}
inline etcdserverpb::RequestOp OpTxn(etcdserverpb::TxnRequest txn) {
  etcdserverpb::RequestOp op;
  *op.mutable_request_txn() = std::move(txn);
  return op;
}

inline etcdserverpb::Compare CmpValue(std::string key, etcdserverpb::Compare::CompareResult r,
                                      std::string value) {
  etcdserverpb::Compare c;
  c.set_key(std::move(key));
  c.set_target(etcdserverpb::Compare::VALUE);
  c.set_result(r);
  c.set_value(std::move(value));
  return c;
}

inline etcdserverpb::Compare CmpVersion(std::string key, etcdserverpb::Compare::CompareResult r,
                                        int64_t version) {
  etcdserverpb::Compare c;
  c.set_key(std::move(key));
  c.set_target(etcdserverpb::Compare::VERSION);
  c.set_result(r);
  c.set_version(version);
  return c;
}

// Keys of a range response, in order.
inline std::vector<std::string> Keys(const etcdserverpb::RangeResponse& r) {
  std::vector<std::string> out;
  for (const auto& kv : r.kvs()) out.push_back(kv.key());
  return out;
}

// A store in a temporary directory; each helper call is one batch at the next Raft index.
class StoreFixture : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen(StoreOptions options = SmallStoreOptions()) {
    store_.reset();
    auto s = Store::Open(dir_.Sub("db"), options);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }

  template <typename F>
  auto Apply(F&& f) {
    ApplyBatch b = store_->BeginBatch();
    auto result = f(b);
    absl::Status s = b.Commit(++index_, 1);
    EXPECT_TRUE(s.ok()) << s;
    last_events_ = b.TakeEvents();
    return result;
  }

  absl::StatusOr<etcdserverpb::PutResponse> DoPut(const etcdserverpb::PutRequest& r) {
    return Apply([&](ApplyBatch& b) { return b.Put(r); });
  }
  int64_t MustPut(std::string key, std::string value, int64_t lease = 0) {
    auto r = DoPut(Put(std::move(key), std::move(value), lease));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->header().revision() : -1;
  }
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DoDel(
      const etcdserverpb::DeleteRangeRequest& r) {
    return Apply([&](ApplyBatch& b) { return b.DeleteRange(r); });
  }
  absl::StatusOr<etcdserverpb::TxnResponse> DoTxn(const etcdserverpb::TxnRequest& r) {
    return Apply([&](ApplyBatch& b) { return b.Txn(r); });
  }
  absl::StatusOr<etcdserverpb::CompactionResponse> DoCompact(int64_t rev) {
    etcdserverpb::CompactionRequest r;
    r.set_revision(rev);
    return Apply([&](ApplyBatch& b) { return b.Compact(r); });
  }
  etcdserverpb::RangeResponse MustRange(const etcdserverpb::RangeRequest& r) {
    auto resp = store_->Range(r);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? *resp : etcdserverpb::RangeResponse();
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  uint64_t index_ = 0;
  std::vector<RevisionEvents> last_events_;
};

}  // namespace kvd::mvcc::testing
