// Deletes of many keys in one request: DeleteRange walks the index in chunks (apply_batch.cc),
// and a failed txn takes such a delete back whole. Sizes span several chunks so that chunk
// borders, gaps (keys already deleted) and leases all meet.
#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/mvcc/errors.h"
#include "storage/mvcc/testing.h"

namespace kvd::mvcc {
namespace {

using namespace kvd::mvcc::testing;  // NOLINT
using etcdserverpb::TxnRequest;

// More than three index chunks of DoDeleteRange.
constexpr int kKeys = 3 * 4096 + 17;

std::string Key(int i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "big/%06d", i);
  return buf;
}
std::string Value(int i) { return "v" + std::to_string(i); }
// Every 7th key carries lease 70, every 11th lease 110.
int64_t LeaseOf(int i) { return i % 7 == 0 ? 70 : (i % 11 == 0 ? 110 : 0); }

bool Deleted(int i) { return i % 5 == 0; }

class LargeDeleteTest : public StoreFixture {
 protected:
  // Puts kKeys keys under "big/" (every 5th then deleted again), 1,000 puts per batch, and one key
  // on each side of the prefix. Returns the revision after the setup.
  int64_t Load() {
    for (int start = 0; start < kKeys; start += 1000) {
      Apply([&](ApplyBatch& b) {
        for (int i = start; i < std::min(kKeys, start + 1000); ++i) {
          EXPECT_TRUE(b.Put(Put(Key(i), Value(i), LeaseOf(i))).ok());
        }
        return 0;
      });
    }
    Apply([&](ApplyBatch& b) {
      for (int i = 0; i < kKeys; i += 5) EXPECT_EQ(b.DeleteRange(Del(Key(i)))->deleted(), 1);
      return 0;
    });
    MustPut("bif", "before", 70);
    return MustPut("bih", "after", 70);
  }
};

TEST_F(LargeDeleteTest, PrefixDeleteOfManyKeysDeletesEachLiveKeyOnceInOneRevision) {
  const int64_t before = Load();
  int live = 0;
  for (int i = 0; i < kKeys; ++i) live += Deleted(i) ? 0 : 1;
  ASSERT_EQ(MustRange(Get("big/", "big0", 0)).count(), live);

  auto d = DoDel(Del("big/", "big0", /*prev_kv=*/true));
  ASSERT_TRUE(d.ok()) << d.status();
  const int64_t rev = before + 1;
  EXPECT_EQ(d->deleted(), live);
  EXPECT_EQ(d->header().revision(), rev);
  EXPECT_EQ(store_->CurrentRevision(), rev);
  ASSERT_EQ(d->prev_kvs_size(), live);
  ASSERT_EQ(last_events_.size(), 1u);
  ASSERT_EQ(last_events_[0].revision, rev);
  ASSERT_EQ(last_events_[0].events.size(), static_cast<size_t>(live));
  int n = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (Deleted(i)) continue;
    const auto& prev = d->prev_kvs(n);
    ASSERT_EQ(prev.key(), Key(i));
    EXPECT_EQ(prev.value(), Value(i));
    EXPECT_EQ(prev.lease(), LeaseOf(i));
    const auto& ev = last_events_[0].events[n];
    EXPECT_EQ(ev.type(), mvccpb::Event::DELETE);
    EXPECT_EQ(ev.kv().key(), Key(i));
    EXPECT_EQ(ev.kv().mod_revision(), rev);
    EXPECT_EQ(ev.prev_kv().value(), Value(i));
    ++n;
  }

  auto check = [&] {
    EXPECT_EQ(MustRange(Get("big/", "big0", 0)).count(), 0);
    EXPECT_EQ(MustRange(Get("big/", "big0", rev - 1)).count(), live);
    EXPECT_EQ(Keys(MustRange(Get("b", "c", 0))), (std::vector<std::string>{"bif", "bih"}));
    // Only the keys outside the prefix keep lease 70; lease 110 holds nothing any more.
    EXPECT_EQ(store_->KeysWithLease(70), (std::vector<std::string>{"bif", "bih"}));
    EXPECT_TRUE(store_->KeysWithLease(110).empty());
    // History before the delete still reads the old values.
    auto kv = MustRange(Get(Key(1), "", rev - 1)).kvs(0);
    EXPECT_EQ(kv.value(), Value(1));
  };
  check();
  // The index rebuilt from the records agrees.
  Reopen();
  check();
  EXPECT_EQ(store_->CurrentRevision(), rev);
  const int64_t put = MustPut(Key(1), "again");
  auto kv = MustRange(Get(Key(1))).kvs(0);
  EXPECT_EQ(kv.create_revision(), put);
  EXPECT_EQ(kv.version(), 1);
  // Deleting again deletes only that one.
  EXPECT_EQ(DoDel(Del("big/", "big0"))->deleted(), 1);
}

TEST_F(LargeDeleteTest, DeleteFromKeyReachesTheLastKey) {
  const int64_t before = Load();
  auto d = DoDel(Del("big/", std::string(1, '\0')));
  ASSERT_TRUE(d.ok()) << d.status();
  int live = 0;
  for (int i = 0; i < kKeys; ++i) live += Deleted(i) ? 0 : 1;
  EXPECT_EQ(d->deleted(), live + 1);  // and "bih"
  EXPECT_EQ(d->header().revision(), before + 1);
  EXPECT_EQ(Keys(MustRange(Get("a", std::string(1, '\0')))), std::vector<std::string>{"bif"});
}

TEST_F(LargeDeleteTest, TxnFailingAfterALargeDeleteTakesItBackWhole) {
  const int64_t before = Load();
  // Breaks the duplicate-key rule (the server would refuse it): the ignore_value check passes
  // before the txn, the delete removes the key, then the put fails and the txn rolls back.
  TxnRequest t;
  *t.add_success() = OpPut("side", "1");
  *t.add_success() = OpDel("big/", "big0");
  auto p = Put(Key(kKeys - 1), "");
  p.set_ignore_value(true);
  *t.add_success()->mutable_request_put() = p;
  auto r = DoTxn(t);
  EXPECT_TRUE(IsError(r.status(), ErrorKind::kKeyNotFound)) << r.status();
  EXPECT_EQ(store_->CurrentRevision(), before);

  auto check = [&] {
    auto all = MustRange(Get("big/", "big0"));
    int n = 0;
    for (int i = 0; i < kKeys; ++i) {
      if (Deleted(i)) continue;
      ASSERT_LT(n, all.kvs_size());
      const auto& kv = all.kvs(n++);
      ASSERT_EQ(kv.key(), Key(i));
      EXPECT_EQ(kv.value(), Value(i));
      EXPECT_EQ(kv.version(), 1);
      EXPECT_EQ(kv.lease(), LeaseOf(i));
    }
    EXPECT_EQ(n, all.kvs_size());
    std::vector<std::string> lease70;
    for (int i = 0; i < kKeys; ++i) {
      if (!Deleted(i) && LeaseOf(i) == 70) lease70.push_back(Key(i));
    }
    lease70.insert(lease70.begin(), "bif");
    lease70.push_back("bih");
    EXPECT_EQ(store_->KeysWithLease(70), lease70);
    EXPECT_EQ(MustRange(Get("side")).count(), 0);
  };
  check();
  Reopen();
  check();
  // The store goes on from the same revision; the delete works afterwards.
  auto d = DoDel(Del("big/", "big0"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->header().revision(), before + 1);
}

TEST_F(LargeDeleteTest, BatchWithoutEventsStillDeletes) {
  const int64_t before = Load();
  BatchOptions no_events;
  no_events.record.events = false;
  ApplyBatch b = store_->BeginBatch(no_events);
  auto d = b.DeleteRange(Del("big/", "big0", /*prev_kv=*/true));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(b.Commit(++index_, 1).ok());
  std::vector<RevisionEvents> events = b.TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].revision, before + 1);
  EXPECT_TRUE(events[0].events.empty());
  // prev_kvs asked for by the request still come back.
  ASSERT_GT(d->prev_kvs_size(), 0);
  EXPECT_EQ(d->prev_kvs(0).value(), Value(1));
  EXPECT_EQ(d->prev_kvs_size(), d->deleted());
  EXPECT_EQ(MustRange(Get("big/", "big0")).count(), 0);
}

}  // namespace
}  // namespace kvd::mvcc
