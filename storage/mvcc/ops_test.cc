// etcd semantics of Range, Put, DeleteRange and Txn, and the pre-Raft validation.
#include "gtest/gtest.h"
#include "storage/mvcc/errors.h"
#include "storage/mvcc/testing.h"
#include "storage/mvcc/validation.h"

namespace kvd::mvcc {
namespace {

using namespace kvd::mvcc::testing;  // NOLINT
using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::TxnRequest;

using OpsTest = StoreFixture;

TEST_F(OpsTest, EmptyStoreIsAtRevisionOneAndFirstWriteGetsTwo) {
  EXPECT_EQ(store_->CurrentRevision(), 1);
  EXPECT_EQ(store_->CompactRevision(), -1);
  auto r = MustRange(Get("a"));
  EXPECT_EQ(r.header().revision(), 1);
  EXPECT_EQ(r.count(), 0);
  EXPECT_EQ(MustPut("a", "1"), 2);
  EXPECT_EQ(MustPut("b", "1"), 3);
  EXPECT_EQ(store_->CurrentRevision(), 3);
}

TEST_F(OpsTest, PutTracksVersionCreateAndModRevisionAcrossDelete) {
  MustPut("k", "v1");  // 2
  MustPut("k", "v2");  // 3
  auto kv = MustRange(Get("k")).kvs(0);
  EXPECT_EQ(kv.create_revision(), 2);
  EXPECT_EQ(kv.mod_revision(), 3);
  EXPECT_EQ(kv.version(), 2);
  EXPECT_EQ(kv.value(), "v2");
  ASSERT_EQ(DoDel(Del("k"))->deleted(), 1);  // 4
  MustPut("k", "v3");                        // 5: a new life
  kv = MustRange(Get("k")).kvs(0);
  EXPECT_EQ(kv.create_revision(), 5);
  EXPECT_EQ(kv.mod_revision(), 5);
  EXPECT_EQ(kv.version(), 1);
}

TEST_F(OpsTest, PutPrevKvIgnoreValueIgnoreLease) {
  auto r = DoPut([] {
    auto p = Put("k", "v1", 7);
    p.set_prev_kv(true);
    return p;
  }());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_prev_kv());  // nothing before

  auto p = Put("k", "", 0);
  p.set_ignore_value(true);
  p.set_ignore_lease(true);
  p.set_prev_kv(true);
  r = DoPut(p);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->prev_kv().value(), "v1");
  EXPECT_EQ(r->prev_kv().lease(), 7);
  auto kv = MustRange(Get("k")).kvs(0);
  EXPECT_EQ(kv.value(), "v1");
  EXPECT_EQ(kv.lease(), 7);
  EXPECT_EQ(kv.version(), 2);

  // ignore_value keeps the value but takes the new lease.
  p = Put("k", "", 9);
  p.set_ignore_value(true);
  ASSERT_TRUE(DoPut(p).ok());
  kv = MustRange(Get("k")).kvs(0);
  EXPECT_EQ(kv.value(), "v1");
  EXPECT_EQ(kv.lease(), 9);
}

TEST_F(OpsTest, IgnoreFlagsOnMissingKeyFailWithKeyNotFoundAndChangeNothing) {
  for (bool value : {true, false}) {
    auto p = Put("missing", "");
    (value ? p.set_ignore_value(true) : p.set_ignore_lease(true));
    auto r = DoPut(p);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(IsError(r.status(), ErrorKind::kKeyNotFound));
    EXPECT_EQ(r.status().message(), "etcdserver: key not found");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(store_->CurrentRevision(), 1);
  EXPECT_EQ(MustRange(Get("missing")).count(), 0);
}

TEST_F(OpsTest, LeaseCheckerRejectsUnknownLease) {
  ApplyBatch b = store_->BeginBatch(BatchOptions{[](int64_t l) { return l == 5; }, true});
  EXPECT_TRUE(b.Put(Put("a", "1", 5)).ok());
  auto r = b.Put(Put("b", "1", 6));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "etcdserver: requested lease not found");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(b.Commit(++index_, 1).ok());
  EXPECT_EQ(store_->CurrentRevision(), 2);
}

TEST_F(OpsTest, RangeSingleKeyPrefixAndFromKey) {
  for (std::string k : {"a", "ab", "abc", "b", "c"}) MustPut(k, "v" + k);
  EXPECT_EQ(Keys(MustRange(Get("ab"))), (std::vector<std::string>{"ab"}));
  EXPECT_EQ(Keys(MustRange(Get("ab", "ac"))), (std::vector<std::string>{"ab", "abc"}));
  EXPECT_EQ(Keys(MustRange(Get("ab", std::string(1, '\0')))),
            (std::vector<std::string>{"ab", "abc", "b", "c"}));
  EXPECT_EQ(MustRange(Get(std::string(1, '\0'), std::string(1, '\0'))).count(), 5);
  // An end at or before the key selects nothing.
  EXPECT_EQ(MustRange(Get("b", "a")).count(), 0);
  EXPECT_EQ(MustRange(Get("b", "b")).count(), 0);
}

TEST_F(OpsTest, RangeLimitCountMoreAndKeysOnlyCountOnly) {
  for (std::string k : {"a", "b", "c", "d"}) MustPut(k, "v");
  auto req = Get("a", "z");
  req.set_limit(2);
  auto r = MustRange(req);
  EXPECT_EQ(Keys(r), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r.more());
  EXPECT_EQ(r.count(), 4);
  req.set_limit(4);
  r = MustRange(req);
  EXPECT_FALSE(r.more());
  EXPECT_EQ(r.kvs_size(), 4);
  req.set_limit(0);
  req.set_keys_only(true);
  r = MustRange(req);
  EXPECT_EQ(r.kvs(0).value(), "");
  EXPECT_EQ(r.kvs(0).version(), 1);
  req.set_count_only(true);
  req.set_limit(1);
  r = MustRange(req);
  EXPECT_EQ(r.kvs_size(), 0);
  EXPECT_EQ(r.count(), 4);
  EXPECT_FALSE(r.more());
}

TEST_F(OpsTest, RangeSortTargetsAndLimitAfterSort) {
  MustPut("a", "3");  // 2
  MustPut("b", "1");  // 3
  MustPut("c", "2");  // 4
  MustPut("a", "4");  // 5: a has version 2, mod 5
  auto req = Get("a", "z");
  req.set_sort_order(RangeRequest::DESCEND);
  req.set_sort_target(RangeRequest::KEY);
  EXPECT_EQ(Keys(MustRange(req)), (std::vector<std::string>{"c", "b", "a"}));
  req.set_sort_target(RangeRequest::VALUE);
  req.set_sort_order(RangeRequest::ASCEND);
  EXPECT_EQ(Keys(MustRange(req)), (std::vector<std::string>{"b", "c", "a"}));
  req.set_sort_target(RangeRequest::MOD);
  req.set_sort_order(RangeRequest::DESCEND);
  req.set_limit(2);
  auto r = MustRange(req);
  EXPECT_EQ(Keys(r), (std::vector<std::string>{"a", "c"}));  // limit after sorting
  EXPECT_TRUE(r.more());
  EXPECT_EQ(r.count(), 3);
  req.set_sort_target(RangeRequest::CREATE);
  req.set_sort_order(RangeRequest::ASCEND);
  EXPECT_EQ(Keys(MustRange(req)), (std::vector<std::string>{"a", "b"}));
  // A non-KEY target with order NONE sorts ascending ...
  req.set_limit(0);
  req.set_sort_target(RangeRequest::VERSION);
  req.set_sort_order(RangeRequest::NONE);
  EXPECT_EQ(Keys(MustRange(req)), (std::vector<std::string>{"b", "c", "a"}));
  // ... and with a limit, as etcd does, only among the first limit+1 keys in key order.
  req.set_sort_target(RangeRequest::VALUE);
  req.set_limit(1);
  r = MustRange(req);
  EXPECT_EQ(Keys(r), (std::vector<std::string>{"b"}));  // sorted {a=4, b=1}: b first
  EXPECT_TRUE(r.more());
}

TEST_F(OpsTest, RangeRevisionFilters) {
  MustPut("a", "1");  // 2
  MustPut("b", "1");  // 3
  MustPut("c", "1");  // 4
  MustPut("a", "2");  // 5
  auto req = Get("a", "z");
  req.set_min_mod_revision(3);
  req.set_max_mod_revision(4);
  auto r = MustRange(req);
  EXPECT_EQ(Keys(r), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(r.count(), 3);  // etcd's count ignores the filters
  req = Get("a", "z");
  req.set_max_create_revision(3);
  req.set_limit(1);
  r = MustRange(req);
  EXPECT_EQ(Keys(r), (std::vector<std::string>{"a"}));
  EXPECT_TRUE(r.more());
  req.set_min_create_revision(3);
  req.set_limit(0);
  EXPECT_EQ(Keys(MustRange(req)), (std::vector<std::string>{"b"}));
}

TEST_F(OpsTest, HistoricalRangeSeesDeletedKeysAndOldValues) {
  MustPut("a", "1");  // 2
  MustPut("b", "1");  // 3
  MustPut("a", "2");  // 4
  auto d = DoDel(Del("a", "c"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->deleted(), 2);
  EXPECT_EQ(d->header().revision(), 5);
  EXPECT_EQ(MustRange(Get("a", "c")).count(), 0);
  auto r = MustRange(Get("a", "c", 4));
  EXPECT_EQ(Keys(r), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.kvs(0).value(), "2");
  EXPECT_EQ(r.header().revision(), 5);  // the header reports the current revision
  EXPECT_EQ(MustRange(Get("a", "", 3)).kvs(0).value(), "1");
  EXPECT_EQ(MustRange(Get("a", "", 1)).count(), 0);
  auto future = store_->Range(Get("a", "", 6));
  EXPECT_TRUE(IsFutureRevision(future.status()));
  EXPECT_EQ(future.status().message(), "etcdserver: mvcc: required revision is a future revision");
}

TEST_F(OpsTest, DeleteRangePrevKvsAndNothingDeletedMakesNoRevision) {
  MustPut("a", "1");
  MustPut("b", "2");
  auto d = DoDel(Del("x", "z"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->deleted(), 0);
  EXPECT_EQ(d->header().revision(), 3);
  EXPECT_EQ(store_->CurrentRevision(), 3);
  EXPECT_TRUE(last_events_.empty());
  d = DoDel(Del("a", std::string(1, '\0'), true));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->deleted(), 2);
  ASSERT_EQ(d->prev_kvs_size(), 2);
  EXPECT_EQ(d->prev_kvs(1).value(), "2");
  ASSERT_EQ(last_events_.size(), 1u);
  EXPECT_EQ(last_events_[0].revision, 4);
  ASSERT_EQ(last_events_[0].events.size(), 2u);
  EXPECT_EQ(last_events_[0].events[0].type(), mvccpb::Event::DELETE);
  EXPECT_EQ(last_events_[0].events[0].kv().mod_revision(), 4);
  EXPECT_EQ(last_events_[0].events[0].prev_kv().value(), "1");
}

TEST_F(OpsTest, TxnCompareSemantics) {
  MustPut("a", "x");  // 2
  auto run = [&](Compare c) {
    TxnRequest t;
    *t.add_compare() = c;
    auto r = DoTxn(t);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && r->succeeded();
  };
  EXPECT_TRUE(run(CmpValue("a", Compare::EQUAL, "x")));
  EXPECT_TRUE(run(CmpValue("a", Compare::GREATER, "w")));
  EXPECT_TRUE(run(CmpValue("a", Compare::LESS, "y")));
  EXPECT_TRUE(run(CmpValue("a", Compare::NOT_EQUAL, "y")));
  // A missing key: the VALUE compare fails whatever the operator; the others compare zero.
  EXPECT_FALSE(run(CmpValue("m", Compare::NOT_EQUAL, "y")));
  EXPECT_FALSE(run(CmpValue("m", Compare::EQUAL, "")));
  EXPECT_TRUE(run(CmpVersion("m", Compare::EQUAL, 0)));
  Compare c;
  c.set_key("m");
  c.set_target(Compare::CREATE);
  c.set_result(Compare::EQUAL);
  c.set_create_revision(0);
  EXPECT_TRUE(run(c));
  c.set_target(Compare::MOD);
  c.clear_create_revision();
  c.set_mod_revision(0);
  EXPECT_TRUE(run(c));
  c.set_key("a");
  c.set_result(Compare::EQUAL);
  c.set_mod_revision(2);
  EXPECT_TRUE(run(c));
  // A range compare holds only if every key in the range satisfies it.
  MustPut("b", "x");
  MustPut("c", "z");
  EXPECT_TRUE(run([] {
    auto c = CmpValue("a", Compare::EQUAL, "x");
    c.set_range_end("c");
    return c;
  }()));
  EXPECT_FALSE(run([] {
    auto c = CmpValue("a", Compare::EQUAL, "x");
    c.set_range_end("d");
    return c;
  }()));
  EXPECT_EQ(store_->CurrentRevision(), 4);  // read-only txns make no revision
}

TEST_F(OpsTest, TxnLeaseCompare) {
  MustPut("l", "v", 42);
  TxnRequest t;
  Compare c;
  c.set_key("l");
  c.set_target(Compare::LEASE);
  c.set_result(Compare::EQUAL);
  c.set_lease(42);
  *t.add_compare() = c;
  EXPECT_TRUE(DoTxn(t)->succeeded());
  t.mutable_compare(0)->set_lease(41);
  EXPECT_FALSE(DoTxn(t)->succeeded());
  t.mutable_compare(0)->set_result(Compare::GREATER);
  EXPECT_TRUE(DoTxn(t)->succeeded());
}

TEST_F(OpsTest, TxnWritesShareOneRevisionAndReadsSeeEarlierWrites) {
  MustPut("a", "0");  // 2
  TxnRequest t;
  *t.add_compare() = CmpValue("a", Compare::EQUAL, "0");
  *t.add_success() = OpGet("a");
  *t.add_success() = OpPut("a", "1");
  *t.add_success() = OpPut("b", "1");
  *t.add_success() = OpGet("a", "c");
  *t.add_success() = OpDel("zz");
  *t.add_failure() = OpPut("f", "1");
  auto r = DoTxn(t);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->succeeded());
  EXPECT_EQ(r->header().revision(), 3);
  ASSERT_EQ(r->responses_size(), 5);
  EXPECT_EQ(r->responses(0).response_range().kvs(0).value(), "0");
  EXPECT_EQ(r->responses(0).response_range().header().revision(), 2);
  EXPECT_EQ(r->responses(1).response_put().header().revision(), 3);
  const auto& seen = r->responses(3).response_range();
  EXPECT_EQ(Keys(seen), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(seen.kvs(0).value(), "1");
  EXPECT_EQ(seen.header().revision(), 3);
  EXPECT_EQ(r->responses(4).response_delete_range().deleted(), 0);
  EXPECT_EQ(r->responses(4).response_delete_range().header().revision(), 3);
  ASSERT_EQ(last_events_.size(), 1u);
  EXPECT_EQ(last_events_[0].revision, 3);
  ASSERT_EQ(last_events_[0].events.size(), 2u);
  EXPECT_EQ(last_events_[0].events[1].kv().key(), "b");
  EXPECT_EQ(MustRange(Get("f")).count(), 0);
  EXPECT_EQ(store_->CurrentRevision(), 3);
}

TEST_F(OpsTest, NestedTxnComparesSeeTheStateBeforeTheTxn) {
  MustPut("a", "0");  // 2
  TxnRequest inner;
  *inner.add_compare() = CmpValue("a", Compare::EQUAL, "0");  // before the outer put
  *inner.add_success() = OpPut("inner", "then");
  *inner.add_failure() = OpPut("inner", "else");
  TxnRequest outer;
  *outer.add_success() = OpPut("a", "1");
  *outer.add_success() = OpTxn(inner);
  *outer.add_success() = OpGet("inner");
  auto r = DoTxn(outer);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->succeeded());
  const auto& nested = r->responses(1).response_txn();
  EXPECT_TRUE(nested.succeeded());
  EXPECT_EQ(nested.header().revision(), 0);
  EXPECT_EQ(nested.responses(0).response_put().header().revision(), 3);
  EXPECT_EQ(r->responses(2).response_range().kvs(0).value(), "then");
  EXPECT_EQ(MustRange(Get("inner")).kvs(0).mod_revision(), 3);
}

TEST_F(OpsTest, TxnChecksRunBeforeAnyWriteAndFailTheWholeTxn) {
  MustPut("a", "0");  // 2
  TxnRequest t;
  *t.add_success() = OpPut("new", "1");
  auto bad = Put("missing", "");
  bad.set_ignore_value(true);
  etcdserverpb::RequestOp op;
  *op.mutable_request_put() = bad;
  *t.add_success() = op;
  auto r = DoTxn(t);
  EXPECT_TRUE(IsError(r.status(), ErrorKind::kKeyNotFound));
  TxnRequest t2;
  *t2.add_success() = OpPut("new", "1");
  auto get = Get("a", "", 99);
  *t2.add_success()->mutable_request_range() = get;
  EXPECT_TRUE(IsFutureRevision(DoTxn(t2).status()));
  EXPECT_EQ(MustRange(Get("new")).count(), 0);
  EXPECT_EQ(store_->CurrentRevision(), 2);
}

TEST_F(OpsTest, TxnThatFailsHalfwayIsRolledBack) {
  MustPut("k", "0");  // 2
  // Breaks the duplicate-key rule (the server would have refused it): the ignore_value check
  // passes before the txn, then the delete removes the key and the put fails.
  TxnRequest t;
  *t.add_success() = OpPut("side", "1");
  *t.add_success() = OpDel("k");
  auto p = Put("k", "");
  p.set_ignore_value(true);
  *t.add_success()->mutable_request_put() = p;
  EXPECT_TRUE(IsError(ValidateTxn(t, 128), ErrorKind::kDuplicateKey));
  auto r = DoTxn(t);
  EXPECT_TRUE(IsError(r.status(), ErrorKind::kKeyNotFound));
  EXPECT_EQ(store_->CurrentRevision(), 2);
  EXPECT_EQ(MustRange(Get("k")).kvs(0).value(), "0");
  EXPECT_EQ(MustRange(Get("side")).count(), 0);
  EXPECT_EQ(MustPut("after", "1"), 3);
}

TEST(ValidationTest, EmptyKeysValueAndLeaseProvided) {
  EXPECT_EQ(ValidateRange(testing::Get("")).message(), "etcdserver: key is not provided");
  EXPECT_EQ(ValidateDeleteRange(testing::Del("")).message(), "etcdserver: key is not provided");
  auto p = testing::Put("k", "v");
  p.set_ignore_value(true);
  EXPECT_EQ(ValidatePut(p).message(), "etcdserver: value is provided");
  p = testing::Put("k", "", 3);
  p.set_ignore_lease(true);
  EXPECT_EQ(ValidatePut(p).message(), "etcdserver: lease is provided");
  EXPECT_TRUE(ValidatePut(testing::Put("k", "v")).ok());
}

TEST(ValidationTest, TooManyOpsCountsTheLargestListAndNestedBudget) {
  TxnRequest t;
  for (int i = 0; i < 3; ++i) *t.add_success() = OpPut("k" + std::to_string(i), "v");
  EXPECT_TRUE(ValidateTxn(t, 3).ok());
  auto s = ValidateTxn(t, 2);
  EXPECT_EQ(s.message(), "etcdserver: too many operations in txn request");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  TxnRequest outer;
  *outer.add_success() = OpTxn(t);  // the nested txn has max_ops - 1 = 2 left
  EXPECT_FALSE(ValidateTxn(outer, 3).ok());
  EXPECT_TRUE(ValidateTxn(outer, 4).ok());
  TxnRequest empty_op;
  empty_op.add_success();
  EXPECT_EQ(ValidateTxn(empty_op, 8).message(), "etcdserver: key not found");
  TxnRequest empty_cmp;
  empty_cmp.add_compare();
  EXPECT_EQ(ValidateTxn(empty_cmp, 8).message(), "etcdserver: key is not provided");
}

TEST(ValidationTest, DuplicateKeys) {
  auto dup = [](std::vector<etcdserverpb::RequestOp> ops) {
    TxnRequest t;
    for (auto& op : ops) *t.add_success() = op;
    return IsError(ValidateTxn(t, 128), ErrorKind::kDuplicateKey);
  };
  EXPECT_TRUE(dup({OpPut("a", "1"), OpPut("a", "2")}));
  EXPECT_FALSE(dup({OpPut("a", "1"), OpPut("b", "2")}));
  EXPECT_TRUE(dup({OpDel("a"), OpPut("a", "2")}));
  EXPECT_TRUE(dup({OpPut("b", "2"), OpDel("a", "c")}));
  EXPECT_FALSE(dup({OpPut("c", "2"), OpDel("a", "c")}));
  EXPECT_FALSE(dup({OpPut("b", "2"), OpDel("a", std::string(1, '\0'))}));  // as etcd
  EXPECT_FALSE(dup({OpDel("a"), OpDel("a")}));
  TxnRequest both;
  *both.add_success() = OpPut("x", "1");
  *both.add_failure() = OpPut("x", "2");
  EXPECT_FALSE(dup({OpTxn(both)}));  // one branch runs
  EXPECT_TRUE(dup({OpTxn(both), OpPut("x", "3")}));
  TxnRequest nested_del;
  *nested_del.add_success() = OpDel("x");
  EXPECT_TRUE(dup({OpTxn(nested_del), OpPut("x", "3")}));
  EXPECT_TRUE(dup({OpDel("x"), OpTxn(both)}));
  // Failure branch checked too.
  TxnRequest t;
  *t.add_failure() = OpPut("a", "1");
  *t.add_failure() = OpPut("a", "1");
  EXPECT_EQ(ValidateTxn(t, 128).message(), "etcdserver: duplicate key given in txn request");
}

}  // namespace
}  // namespace kvd::mvcc
