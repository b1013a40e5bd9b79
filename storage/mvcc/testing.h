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
#include "storage/mvcc/testing_requests.h"

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
    ApplyBatch b = store_->BeginBatch(batch_options_);
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
  BatchOptions batch_options_;  // of every batch Apply makes
  std::vector<RevisionEvents> last_events_;
};

}  // namespace kvd::mvcc::testing
