// The WatchHub over a real MVCC store: synced and unsynced groups, slow streams (victims) with
// bounded outboxes, history replay, compaction, progress, fragments. The streams' writers are
// played by the test, which drains outboxes when it wants to.
#include "server/watch_hub.h"

#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/mvcc/testing.h"

namespace kvd::server {
namespace {

using etcdserverpb::WatchCreateRequest;
using etcdserverpb::WatchResponse;
using mvcc::testing::Del;
using mvcc::testing::Put;

const std::string kAll(1, '\0');

WatchCreateRequest Req(std::string key, std::string end = "", int64_t start = 0) {
  WatchCreateRequest r;
  r.set_key(std::move(key));
  r.set_range_end(std::move(end));
  r.set_start_revision(start);
  return r;
}

// One watch stream as the test sees it: the hub queues into its outbox, the test drains it.
class TestStream {
 public:
  explicit TestStream(WatchHub& hub, WatchOutbox::Limits limits = {})
      : hub_(hub), outbox_(limits, nullptr) {
    id_ = hub_.OpenStream(&outbox_);
  }
  ~TestStream() { hub_.CloseStream(id_); }

  void Create(const WatchCreateRequest& r) { hub_.Create(id_, r); }
  void Cancel(int64_t id) { hub_.Cancel(id_, id); }
  void RequestProgress() { hub_.RequestProgress(id_); }

  // Everything queued, as responses.
  std::vector<WatchResponse> Drain(size_t max_response_bytes = size_t{1} << 30) {
    std::vector<WatchResponse> out;
    while (std::optional<WatchDelivery> d = outbox_.Take()) {
      for (WatchResponse& r : BuildResponses(*d, max_response_bytes)) out.push_back(std::move(r));
    }
    return out;
  }
  WatchOutbox& outbox() { return outbox_; }

 private:
  WatchHub& hub_;
  WatchOutbox outbox_;
  uint64_t id_ = 0;
};

// (revision, type, key) of each event, for comparisons.
struct Seen {
  int64_t rev;
  int type;
  std::string key;
  std::string value;
  bool operator==(const Seen&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << "{" << s.rev << (s.type == 0 ? " PUT " : " DEL ") << s.key << "=" << s.value << "}";
}

std::vector<Seen> EventsOf(const std::vector<WatchResponse>& rs, int64_t watch_id) {
  std::vector<Seen> out;
  for (const WatchResponse& r : rs) {
    if (r.watch_id() != watch_id) continue;
    for (const auto& ev : r.events()) {
      out.push_back({ev.kv().mod_revision(), ev.type(), ev.kv().key(), ev.kv().value()});
    }
  }
  return out;
}

class WatchHubTest : public mvcc::testing::StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    hub_ = std::make_unique<WatchHub>(store_.get(), options_);
  }
  void TearDown() override { hub_.reset(); }

  // Applies one batch (f) recording what the hub asks for, then notifies the hub, as the apply
  // thread does. `meanwhile` runs after the batch began and before the hub hears of it.
  template <typename F>
  auto ApplyN(F&& f, const std::function<void()>& meanwhile = {}) {
    batch_options_.record = hub_->Recording();
    const mvcc::EventRecording recorded = batch_options_.record;
    auto result = f();
    if (meanwhile) meanwhile();
    hub_->Notify(std::move(last_events_), recorded);
    return result;
  }
  int64_t PutN(std::string key, std::string value, const std::function<void()>& meanwhile = {}) {
    return ApplyN([&] { return MustPut(std::move(key), std::move(value)); }, meanwhile);
  }
  void DelN(std::string key, std::string end = "") {
    auto r = ApplyN([&] { return DoDel(Del(std::move(key), std::move(end))); });
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // Everything history holds for [key, end) from `from`, as a watcher should see it.
  std::vector<Seen> History(const std::string& key, const std::string& end, int64_t from) {
    mvcc::EventQuery q;
    q.key = key;
    q.range_end = end;
    q.start_revision = from;
    auto page = store_->ReadEvents(q);
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<Seen> out;
    for (const auto& ev : page->events) {
      out.push_back({ev.kv().mod_revision(), ev.type(), ev.kv().key(), ev.kv().value()});
    }
    return out;
  }
  void CatchUpAll() {
    for (int i = 0; i < 1000 && hub_->stats().unsynced > 0; ++i) hub_->CatchUpOnce(absl::Now());
  }

  WatchHub::Options options_;
  std::unique_ptr<WatchHub> hub_;
};

TEST_F(WatchHubTest, CreatedResponsesCarryIdsAndRefusalsAreEtcds) {
  PutN("a", "1");  // revision 2
  TestStream s(*hub_);
  s.Create(Req("a"));
  s.Create(Req("b"));
  auto c7 = Req("c");
  c7.set_watch_id(7);
  s.Create(c7);
  s.Create(c7);             // duplicate
  s.Create(Req("z", "a"));  // empty range
  s.Create(Req("", kAll));  // every key
  std::vector<WatchResponse> rs = s.Drain();
  ASSERT_EQ(rs.size(), 6u);
  EXPECT_EQ(rs[0].watch_id(), 0);
  EXPECT_EQ(rs[1].watch_id(), 1);
  EXPECT_EQ(rs[2].watch_id(), 7);
  for (int i : {0, 1, 2, 5}) {
    EXPECT_TRUE(rs[i].created());
    EXPECT_FALSE(rs[i].canceled());
    EXPECT_EQ(rs[i].header().revision(), 2);
  }
  EXPECT_EQ(rs[3].watch_id(), -1);
  EXPECT_TRUE(rs[3].created() && rs[3].canceled());
  EXPECT_EQ(rs[3].cancel_reason(), kErrWatcherDuplicateId);
  EXPECT_EQ(rs[4].watch_id(), -1);
  EXPECT_TRUE(rs[4].created() && rs[4].canceled());
  EXPECT_EQ(rs[4].cancel_reason(), kErrWatcherRangeEmpty);
  EXPECT_EQ(rs[5].watch_id(), 2);
  EXPECT_EQ(hub_->stats().synced, 4u);
}

TEST_F(WatchHubTest, SyncedWatchersGetTheirRangeFilteredAndPrevKvOnlyWhenAsked) {
  TestStream s(*hub_);
  s.Create(Req("foo"));       // 0: one key
  s.Create(Req("fo", "fp"));  // 1: prefix "fo"
  s.Create(Req("g", kAll));   // 2: from "g"
  auto noput = Req("fo", "fp");
  noput.add_filters(WatchCreateRequest::NOPUT);
  s.Create(noput);  // 3
  auto prev = Req("fo", "fp");
  prev.set_prev_kv(true);
  prev.add_filters(WatchCreateRequest::NODELETE);
  s.Create(prev);  // 4
  s.Drain();
  PutN("foo", "1");  // 2
  PutN("fox", "1");  // 3
  PutN("foo", "2");  // 4
  PutN("h", "1");    // 5
  DelN("foo");       // 6
  std::vector<WatchResponse> rs = s.Drain();
  EXPECT_EQ(EventsOf(rs, 0),
            (std::vector<Seen>{{2, 0, "foo", "1"}, {4, 0, "foo", "2"}, {6, 1, "foo", ""}}));
  EXPECT_EQ(EventsOf(rs, 1),
            (std::vector<Seen>{
                {2, 0, "foo", "1"}, {3, 0, "fox", "1"}, {4, 0, "foo", "2"}, {6, 1, "foo", ""}}));
  EXPECT_EQ(EventsOf(rs, 2), (std::vector<Seen>{{5, 0, "h", "1"}}));
  EXPECT_EQ(EventsOf(rs, 3), (std::vector<Seen>{{6, 1, "foo", ""}}));
  EXPECT_EQ(EventsOf(rs, 4),
            (std::vector<Seen>{{2, 0, "foo", "1"}, {3, 0, "fox", "1"}, {4, 0, "foo", "2"}}));
  for (const WatchResponse& r : rs) {
    for (const auto& ev : r.events()) {
      if (r.watch_id() == 4 && ev.kv().key() == "foo" && ev.kv().value() == "2") {
        EXPECT_EQ(ev.prev_kv().value(), "1");
      } else if (r.watch_id() != 4) {
        EXPECT_FALSE(ev.has_prev_kv()) << r.DebugString();
      }
    }
    EXPECT_GE(r.header().revision(), r.events(r.events_size() - 1).kv().mod_revision());
  }
}

TEST_F(WatchHubTest, BatchesRecordPrevKvOnlyWhileAWatcherAsks) {
  EXPECT_EQ(hub_->Recording(), (mvcc::EventRecording{.events = true, .prev_kv = false}));
  TestStream s(*hub_);
  s.Create(Req("a"));
  EXPECT_EQ(hub_->Recording(), (mvcc::EventRecording{.events = true, .prev_kv = false}));
  auto prev = Req("b");
  prev.set_prev_kv(true);
  s.Create(prev);
  EXPECT_EQ(hub_->Recording(), (mvcc::EventRecording{.events = true, .prev_kv = true}));
  s.Cancel(1);
  EXPECT_EQ(hub_->Recording(), (mvcc::EventRecording{.events = true, .prev_kv = false}));
  {
    TestStream other(*hub_);
    other.Create(prev);
    EXPECT_TRUE(hub_->Recording().prev_kv);
  }
  EXPECT_FALSE(hub_->Recording().prev_kv);  // closing a stream removes its watchers
  s.Cancel(0);
  EXPECT_FALSE(hub_->Recording().prev_kv);
}

TEST_F(WatchHubTest, WatcherCreatedWhileABatchAppliesGetsWhatTheBatchDidNotRecord) {
  PutN("k", "1");  // 2
  // The batch begins with no watcher; a watcher is created before the hub hears of it, at the
  // hub's revision 2, so revision 3 is the first it must get.
  TestStream plain(*hub_);
  PutN("k", "2", [&] { plain.Create(Req("k")); });  // 3
  // The batch begins with a watcher without prev_kv (so it records none); one asking prev_kv
  // joins meanwhile and must get the prev_kvs read from the store.
  TestStream with_prev(*hub_);
  auto prev = Req("k");
  prev.set_prev_kv(true);
  PutN("k", "3", [&] { with_prev.Create(prev); });  // 4
  PutN("k", "4");                                   // 5, recorded with prev_kv
  CatchUpAll();
  std::vector<WatchResponse> rs = plain.Drain();
  EXPECT_EQ(EventsOf(rs, 0),
            (std::vector<Seen>{{3, 0, "k", "2"}, {4, 0, "k", "3"}, {5, 0, "k", "4"}}));
  std::vector<WatchResponse> rp = with_prev.Drain();
  EXPECT_EQ(EventsOf(rp, 0), (std::vector<Seen>{{4, 0, "k", "3"}, {5, 0, "k", "4"}}));
  std::vector<std::string> prevs;
  for (const WatchResponse& r : rp) {
    for (const auto& ev : r.events()) prevs.push_back(ev.prev_kv().value());
  }
  EXPECT_EQ(prevs, (std::vector<std::string>{"2", "3"}));
  EXPECT_EQ(hub_->stats().unsynced, 0u);
}

TEST_F(WatchHubTest, WatcherCreatedWhileABatchCompactsItsOwnRevisionsIsNotCancelled) {
  PutN("k", "1");  // 2
  TestStream plain(*hub_);
  TestStream with_prev(*hub_);
  auto prev = Req("k");
  prev.set_prev_kv(true);
  // One batch: revisions 3 and 4, then a compaction at 4. Both watchers are created while it
  // applies, at the hub's revision 2: they must get revisions 3 and 4, not a compacted cancel.
  ApplyN(
      [&] {
        return Apply([&](mvcc::ApplyBatch& b) {
          EXPECT_TRUE(b.Put(Put("k", "2")).ok());
          EXPECT_TRUE(b.Put(Put("k", "3")).ok());
          etcdserverpb::CompactionRequest c;
          c.set_revision(4);
          EXPECT_TRUE(b.Compact(c).ok());
          return true;
        });
      },
      [&] {
        plain.Create(Req("k"));
        with_prev.Create(prev);
      });
  CatchUpAll();
  for (TestStream* s : {&plain, &with_prev}) {
    std::vector<WatchResponse> rs = s->Drain();
    EXPECT_EQ(EventsOf(rs, 0), (std::vector<Seen>{{3, 0, "k", "2"}, {4, 0, "k", "3"}}));
    for (const WatchResponse& r : rs) EXPECT_FALSE(r.canceled()) << r.DebugString();
  }
  EXPECT_EQ(hub_->stats().unsynced, 0u);
}

TEST_F(WatchHubTest, StartRevisionReplaysHistoryThenFollowsLiveWithoutGapOrDuplicate) {
  for (int i = 0; i < 20; ++i) PutN(absl::StrCat("k", i % 3), absl::StrCat(i));  // revs 2..21
  TestStream s(*hub_);
  auto r = Req("k", "l", 5);
  r.set_prev_kv(true);
  s.Create(r);
  EXPECT_EQ(hub_->stats().unsynced, 1u);
  PutN("k1", "live");  // 22: notified while the watcher is still behind
  CatchUpAll();
  EXPECT_EQ(hub_->stats().unsynced, 0u);
  PutN("k2", "live");  // 23: delivered straight from the apply path
  std::vector<WatchResponse> rs = s.Drain();
  ASSERT_TRUE(rs[0].created());
  EXPECT_EQ(EventsOf(rs, 0), History("k", "l", 5));
  ASSERT_EQ(EventsOf(rs, 0).size(), 19u);
  for (const WatchResponse& resp : rs) {
    for (const auto& ev : resp.events()) {
      if (ev.kv().version() > 1) {
        EXPECT_TRUE(ev.has_prev_kv());
      }
    }
  }
}

TEST_F(WatchHubTest, FutureStartRevisionWaitsForIt) {
  PutN("a", "1");  // 2
  TestStream s(*hub_);
  s.Create(Req("a", "", 5));
  PutN("a", "2");  // 3
  PutN("a", "3");  // 4
  PutN("a", "4");  // 5
  PutN("a", "5");  // 6
  std::vector<WatchResponse> rs = s.Drain();
  EXPECT_EQ(EventsOf(rs, 0), (std::vector<Seen>{{5, 0, "a", "4"}, {6, 0, "a", "5"}}));
}

TEST_F(WatchHubTest, CompactedStartRevisionCancelsWithCompactRevision) {
  for (int i = 0; i < 5; ++i) PutN("a", absl::StrCat(i));  // 2..6
  ASSERT_TRUE(DoCompact(5).ok());
  TestStream s(*hub_);
  s.Create(Req("a", "", 3));
  s.Create(Req("a", "", 5));  // at the compact revision: still served
  CatchUpAll();
  std::vector<WatchResponse> rs = s.Drain();
  ASSERT_EQ(rs.size(), 4u) << rs.size();
  EXPECT_TRUE(rs[0].created());
  EXPECT_TRUE(rs[1].created());
  bool compacted_seen = false;
  for (const WatchResponse& r : rs) {
    if (r.watch_id() == 0 && !r.created()) {
      compacted_seen = true;
      EXPECT_TRUE(r.canceled());
      EXPECT_EQ(r.compact_revision(), 5);
      EXPECT_EQ(r.header().revision(), 0);
      EXPECT_EQ(r.events_size(), 0);
    }
  }
  EXPECT_TRUE(compacted_seen);
  EXPECT_EQ(EventsOf(rs, 1), (std::vector<Seen>{{5, 0, "a", "3"}, {6, 0, "a", "4"}}));
  EXPECT_EQ(hub_->stats().synced + hub_->stats().unsynced, 1u);
}

TEST_F(WatchHubTest, SlowStreamIsBoundedFallsBehindAndCatchesUpWithoutLoss) {
  TestStream slow(*hub_, WatchOutbox::Limits{.max_deliveries = 2, .max_bytes = 1 << 20});
  TestStream fast(*hub_);
  slow.Create(Req("k", "l"));
  fast.Create(Req("k", "l"));
  slow.Drain();
  fast.Drain();
  std::vector<WatchResponse> fast_got;
  for (int i = 0; i < 30; ++i) {
    PutN(absl::StrCat("k", i % 4), absl::StrCat(i));
    for (WatchResponse& r : fast.Drain()) fast_got.push_back(std::move(r));
    // The slow stream never holds more than its bound, whatever the writer does.
    EXPECT_LE(slow.outbox().queued(), 2u);
  }
  EXPECT_EQ(EventsOf(fast_got, 0), History("k", "l", 2));
  EXPECT_EQ(hub_->stats().unsynced, 1u) << "the slow watcher fell behind";
  // It cannot catch up while its outbox is full...
  hub_->CatchUpOnce(absl::Now());
  EXPECT_LE(slow.outbox().queued(), 2u);
  // ...and does once its reader reads again.
  std::vector<WatchResponse> slow_got;
  for (int i = 0; i < 100 && hub_->stats().unsynced > 0; ++i) {
    for (WatchResponse& r : slow.Drain()) slow_got.push_back(std::move(r));
    hub_->CatchUpOnce(absl::Now());
  }
  for (WatchResponse& r : slow.Drain()) slow_got.push_back(std::move(r));
  EXPECT_EQ(hub_->stats().unsynced, 0u);
  PutN("k9", "after");
  for (WatchResponse& r : slow.Drain()) slow_got.push_back(std::move(r));
  EXPECT_EQ(EventsOf(slow_got, 0), History("k", "l", 2));
}

TEST_F(WatchHubTest, VictimWhoseHistoryIsCompactedMeanwhileIsCancelled) {
  TestStream slow(*hub_, WatchOutbox::Limits{.max_deliveries = 1, .max_bytes = 1 << 20});
  slow.Create(Req("a"));
  slow.Drain();
  for (int i = 0; i < 5; ++i) PutN("a", absl::StrCat(i));  // 2..6; victim from 3
  ASSERT_EQ(hub_->stats().unsynced, 1u);
  ASSERT_TRUE(DoCompact(6).ok());
  std::vector<WatchResponse> got = slow.Drain();
  hub_->CatchUpOnce(absl::Now());
  for (WatchResponse& r : slow.Drain()) got.push_back(std::move(r));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(EventsOf(got, 0), (std::vector<Seen>{{2, 0, "a", "0"}}));
  EXPECT_TRUE(got[1].canceled());
  EXPECT_EQ(got[1].compact_revision(), 6);
  EXPECT_EQ(hub_->stats().unsynced + hub_->stats().synced, 0u);
}

TEST_F(WatchHubTest, ProgressRequestIsAnsweredOnceEveryWatcherIsSynced) {
  for (int i = 0; i < 5; ++i) PutN("a", absl::StrCat(i));  // 2..6
  TestStream s(*hub_);
  s.Create(Req("a", "", 2));
  s.RequestProgress();
  std::vector<WatchResponse> rs = s.Drain();
  ASSERT_EQ(rs.size(), 1u);  // created only: the watcher is behind
  CatchUpAll();
  rs = s.Drain();
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(EventsOf(rs, 0).size(), 5u);
  EXPECT_EQ(rs[1].watch_id(), -1);
  EXPECT_EQ(rs[1].events_size(), 0);
  EXPECT_EQ(rs[1].header().revision(), 6);
  s.RequestProgress();  // synced: answered at once
  rs = s.Drain();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].header().revision(), 6);
}

TEST_F(WatchHubTest, ProgressNotificationsGoToIdleSyncedWatchersOnly) {
  options_.progress_interval = absl::Seconds(1);
  hub_ = std::make_unique<WatchHub>(store_.get(), options_);
  TestStream s(*hub_);
  auto busy = Req("busy");
  busy.set_progress_notify(true);
  auto idle = Req("idle");
  idle.set_progress_notify(true);
  s.Create(busy);         // 0
  s.Create(idle);         // 1
  s.Create(Req("idle"));  // 2: did not ask
  s.Drain();
  PutN("busy", "x");  // 2
  s.Drain();
  hub_->CatchUpOnce(absl::Now() + absl::Seconds(2));
  std::vector<WatchResponse> rs = s.Drain();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].watch_id(), 1);
  EXPECT_EQ(rs[0].events_size(), 0);
  EXPECT_EQ(rs[0].header().revision(), 2);
  hub_->CatchUpOnce(absl::Now() + absl::Seconds(4));  // now both were idle for a period
  rs = s.Drain();
  EXPECT_EQ(rs.size(), 2u);
}

TEST_F(WatchHubTest, CancelStopsEventsAndAnswersOnlyExistingWatchers) {
  TestStream s(*hub_);
  s.Create(Req("a"));
  s.Drain();
  PutN("a", "1");
  s.Cancel(0);
  s.Cancel(42);  // unknown: no answer (etcd 3.4)
  PutN("a", "2");
  std::vector<WatchResponse> rs = s.Drain();
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].events_size(), 1);
  EXPECT_TRUE(rs[1].canceled());
  EXPECT_EQ(rs[1].watch_id(), 0);
  EXPECT_EQ(rs[1].header().revision(), 2);
}

TEST_F(WatchHubTest, OneRevisionIsNeverSplitUnlessFragmentsAreAsked) {
  TestStream s(*hub_);
  s.Create(Req("k", "l"));
  auto frag = Req("k", "l");
  frag.set_fragment(true);
  s.Create(frag);
  s.Drain();
  etcdserverpb::TxnRequest txn;
  for (int i = 0; i < 10; ++i) {
    *txn.add_success() = mvcc::testing::OpPut(absl::StrCat("k", i), std::string(100, 'v'));
  }
  ASSERT_TRUE(ApplyN([&] { return DoTxn(txn).ok(); }));
  std::vector<WatchResponse> rs = s.Drain(/*max_response_bytes=*/450);
  int whole = 0;
  std::vector<int> fragments;
  for (const WatchResponse& r : rs) {
    if (r.watch_id() == 0) whole += r.events_size() == 10 ? 1 : 100;
    if (r.watch_id() == 1) fragments.push_back(r.events_size());
  }
  EXPECT_EQ(whole, 1);
  ASSERT_GT(fragments.size(), 1u);
  int total = 0;
  for (size_t i = 0; i < rs.size(); ++i) {
    if (rs[i].watch_id() != 1) continue;
    total += rs[i].events_size();
    EXPECT_EQ(rs[i].fragment(), total < 10) << i;
    EXPECT_GE(rs[i].events_size(), 1);
  }
  EXPECT_EQ(total, 10);
}

TEST_F(WatchHubTest, RestoreMakesWatchersCatchUpFromTheNewState) {
  TestStream s(*hub_);
  s.Create(Req("a"));
  s.Drain();
  // Writes the hub is not told about, as when a snapshot replaces the state.
  MustPut("a", "1");
  MustPut("a", "2");
  hub_->Restore();
  EXPECT_EQ(hub_->stats().unsynced, 1u);
  CatchUpAll();
  EXPECT_EQ(EventsOf(s.Drain(), 0), History("a", "", 2));
  EXPECT_EQ(hub_->revision(), 3);
}

// Random writers, random watchers (ranges, filters, start revisions), random slow readers: every
// watcher's events equal the store's history of its range from its start, filtered.
TEST_F(WatchHubTest, RandomizedWatchersSeeExactlyTheirHistory) {
  const char* env = std::getenv("KVD_TEST_SEED");
  const uint64_t seed = env != nullptr ? std::strtoull(env, nullptr, 10) : std::random_device()();
  std::printf("seed %llu (replay with KVD_TEST_SEED=%llu)\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const std::vector<std::string> keys = {"a", "b", "ba", "bb", "c", "d"};
  struct Spec {
    TestStream* stream;
    int64_t id;
    WatchCreateRequest req;
    std::vector<WatchResponse> got;
  };
  std::vector<std::unique_ptr<TestStream>> streams;
  for (int i = 0; i < 4; ++i) {
    streams.push_back(std::make_unique<TestStream>(
        *hub_, WatchOutbox::Limits{.max_deliveries = static_cast<size_t>(1 + pick(4)),
                                   .max_bytes = 1 << 20}));
  }
  std::vector<Spec> specs;
  std::map<TestStream*, int64_t> next_id;
  auto drain = [&](TestStream* st) {
    for (WatchResponse& r : st->Drain()) {
      for (Spec& sp : specs) {
        if (sp.stream == st && sp.id == r.watch_id()) sp.got.push_back(r);
      }
    }
  };
  for (int step = 0; step < 400; ++step) {
    const int what = pick(10);
    if (what < 6) {
      const std::string& k = keys[pick(keys.size())];
      if (pick(4) == 0) {
        DelN(k);
      } else {
        PutN(k, absl::StrCat(step));
      }
    } else if (what < 7 && specs.size() < 12) {
      Spec sp;
      sp.stream = streams[pick(streams.size())].get();
      const int shape = pick(3);
      const std::string& k = keys[pick(keys.size())];
      sp.req = shape == 0 ? Req(k) : shape == 1 ? Req(k, k + "\xff") : Req(k, kAll);
      const int64_t rev = hub_->revision();
      sp.req.set_start_revision(pick(2) == 0 ? 0 : 1 + pick(static_cast<int>(rev) + 3));
      if (pick(4) == 0) sp.req.add_filters(WatchCreateRequest::NOPUT);
      if (pick(4) == 0) sp.req.add_filters(WatchCreateRequest::NODELETE);
      sp.req.set_prev_kv(pick(2) == 0);
      if (sp.req.start_revision() == 0) sp.req.set_start_revision(rev + 1);
      sp.id = next_id[sp.stream]++;
      sp.stream->Create(sp.req);
      specs.push_back(std::move(sp));
    } else if (what < 9) {
      drain(streams[pick(streams.size())].get());
    } else {
      hub_->CatchUpOnce(absl::Now());
    }
  }
  for (int i = 0; i < 1000 && hub_->stats().unsynced > 0; ++i) {
    for (auto& st : streams) drain(st.get());
    hub_->CatchUpOnce(absl::Now());
  }
  for (auto& st : streams) drain(st.get());
  ASSERT_EQ(hub_->stats().unsynced, 0u);
  for (const Spec& sp : specs) {
    std::vector<Seen> want;
    for (const Seen& s :
         History(sp.req.key(), sp.req.range_end(), std::max<int64_t>(1, sp.req.start_revision()))) {
      bool filtered = false;
      for (int f : sp.req.filters()) {
        filtered |= (f == WatchCreateRequest::NOPUT && s.type == 0) ||
                    (f == WatchCreateRequest::NODELETE && s.type == 1);
      }
      if (!filtered) want.push_back(s);
    }
    ASSERT_EQ(EventsOf(sp.got, sp.id), want)
        << "watch " << sp.id << " " << sp.req.DebugString() << " seed " << seed;
    int64_t last_header = 0;
    for (const WatchResponse& r : sp.got) {
      EXPECT_GE(r.header().revision(), last_header) << "header revisions go back";
      last_header = r.header().revision();
    }
  }
}

}  // namespace
}  // namespace kvd::server
