// Watch and Lease on a real 3-member kvd cluster: every watcher (on the leader and on
// followers, through a leader crash) is judged by the watch checker against the history read
// back from the store; leases keep their remaining TTL across a change of leader, expire on
// time deleting their keys in one revision, are kept alive through a follower without Raft
// proposals, and survive a restart of every member.
#include <atomic>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/harness/client.h"
#include "tests/harness/cluster.h"
#include "tests/harness/gtest_support.h"
#include "tests/harness/streams.h"
#include "tests/harness/watch_checker.h"

namespace kvd::testing {
namespace {

const std::string kPrefix = "/svc/";
const std::string kPrefixEnd = "/svc0";

// A fresh random seed, or $KVD_TEST_SEED to replay a run; printed either way.
uint64_t TestSeed() {
  uint64_t seed = std::random_device()();
  if (const char* env = std::getenv("KVD_TEST_SEED")) seed = std::strtoull(env, nullptr, 10);
  std::printf("seed %llu (replay with KVD_TEST_SEED=%llu)\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  return seed;
}

etcdserverpb::WatchCreateRequest PrefixWatch(int64_t start, bool prev_kv = false) {
  etcdserverpb::WatchCreateRequest r;
  r.set_key(kPrefix);
  r.set_range_end(kPrefixEnd);
  r.set_start_revision(start);
  r.set_prev_kv(prev_kv);
  return r;
}

// A write through any running member (the first that takes it); the revision it got, or 0.
int64_t WriteSomewhere(Cluster& c, const std::function<grpc::Status(KvClient&, int64_t*)>& op,
                       int first) {
  for (int attempt = 0; attempt < 60; ++attempt) {
    const int i = (first + attempt) % c.size();
    if (!c.IsRunning(i)) continue;
    KvClient client(c.ClientEndpoint(i), std::chrono::seconds(3));
    int64_t rev = 0;
    if (op(client, &rev).ok()) return rev;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return 0;
}

// One watcher that follows a prefix across member failures: when its stream ends it resumes
// on the next member from the revision after the last event it got, as clients do.
class ResumingWatcher {
 public:
  ResumingWatcher(Cluster& c, int member, int64_t start, bool prev_kv)
      : cluster_(c), member_(member), next_rev_(start), prev_kv_(prev_kv) {
    Connect();
  }

  // Reads until the stream's progress response says everything up to `revision` arrived.
  // Resumes on another member whenever the stream breaks.
  bool ReadThrough(int64_t revision, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    absl::Time asked = absl::InfinitePast();
    while (absl::Now() < deadline) {
      if (stream_->ended()) {
        ++resumes_;
        member_ = (member_ + 1) % cluster_.size();
        Connect();
        continue;
      }
      if (absl::Now() - asked > absl::Milliseconds(200)) {
        stream_->RequestProgress();
        asked = absl::Now();
      }
      std::optional<etcdserverpb::WatchResponse> r = stream_->Next(absl::Milliseconds(100));
      if (!r.has_value()) continue;
      if (r->created()) {
        EXPECT_FALSE(r->canceled()) << r->DebugString();
        continue;
      }
      if (r->watch_id() == -1 && r->events_size() == 0) {
        if (r->header().revision() >= revision) return true;
        continue;
      }
      if (r->events_size() > 0) {
        next_rev_ = r->events(r->events_size() - 1).kv().mod_revision() + 1;
        responses_.push_back(*std::move(r));
      }
    }
    return false;
  }

  // Reads what arrives for `d` (used while writes go on).
  void Poll(absl::Duration d) { ReadThrough(INT64_MAX, d); }

  const std::vector<etcdserverpb::WatchResponse>& responses() const { return responses_; }
  int resumes() const { return resumes_; }
  int member() const { return member_; }

 private:
  void Connect() {
    while (!cluster_.IsRunning(member_)) member_ = (member_ + 1) % cluster_.size();
    stream_ = std::make_unique<WatchStream>(cluster_.ClientEndpoint(member_));
    stream_->Create(PrefixWatch(next_rev_, prev_kv_));
  }

  Cluster& cluster_;
  int member_;
  int64_t next_rev_;
  bool prev_kv_;
  int resumes_ = 0;
  std::unique_ptr<WatchStream> stream_;
  std::vector<etcdserverpb::WatchResponse> responses_;
};

// Puts, deletes and multi-key transactions on the prefix (and writes beside it).
grpc::Status RandomWrite(KvClient& client, std::mt19937_64& rng, int64_t* rev) {
  const std::string key = absl::StrCat(kPrefix, "k", rng() % 8);
  const int kind = static_cast<int>(rng() % 10);
  if (kind < 5) {
    etcdserverpb::PutResponse resp;
    grpc::Status st = client.Put(key, absl::StrCat("v", rng() % 1000), &resp);
    *rev = resp.header().revision();
    return st;
  }
  if (kind < 7) {
    etcdserverpb::DeleteRangeResponse resp;
    grpc::Status st = client.Delete(key, &resp);
    *rev = resp.header().revision();
    return st;
  }
  if (kind < 9) {
    etcdserverpb::TxnRequest txn;
    for (int i = 0; i < 3; ++i) {
      auto* put = txn.add_success()->mutable_request_put();
      put->set_key(absl::StrCat(kPrefix, "t", i));
      put->set_value(absl::StrCat("x", rng() % 1000));
    }
    etcdserverpb::TxnResponse resp;
    grpc::Status st = client.Txn(txn, &resp);
    *rev = resp.header().revision();
    return st;
  }
  etcdserverpb::PutResponse resp;
  grpc::Status st = client.Put("/other/key", "x", &resp);
  *rev = resp.header().revision();
  return st;
}

int64_t CurrentRevision(Cluster& c) {
  for (int i = 0; i < c.size(); ++i) {
    if (!c.IsRunning(i)) continue;
    KvClient client(c.ClientEndpoint(i));
    etcdserverpb::RangeRequest req;
    req.set_key("any");
    etcdserverpb::RangeResponse resp;
    if (client.Range(req, &resp).ok()) return resp.header().revision();
  }
  return 0;
}

void ExpectMatchesHistory(Cluster& c, const ResumingWatcher& w, int64_t from, int64_t to,
                          const std::string& what) {
  for (int i = 0; i < c.size(); ++i) {
    if (!c.IsRunning(i)) continue;
    KvClient client(c.ClientEndpoint(i));
    absl::StatusOr<History> history = ReadHistory(client, kPrefix, kPrefixEnd, from, to);
    ASSERT_TRUE(history.ok()) << history.status();
    std::vector<std::string> problems = CheckWatch(w.responses(), *history, from, to);
    EXPECT_TRUE(problems.empty()) << what << ":\n" << absl::StrJoin(problems, "\n");
    return;
  }
  FAIL() << "no member to read history from";
}

TEST(Watch, WatchersOnEveryMemberSeeExactlyTheHistory) {
  auto c = StartCluster();
  ASSERT_NE(c, nullptr);
  const uint64_t seed = TestSeed();
  // Some history before the replaying watchers are created.
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 20; ++i) {
    ASSERT_GT(WriteSomewhere(
                  *c, [&](KvClient& k, int64_t* rev) { return RandomWrite(k, rng, rev); }, i),
              0);
  }
  const int64_t before = CurrentRevision(*c);
  std::vector<std::unique_ptr<ResumingWatcher>> live, replay;
  for (int i = 0; i < c->size(); ++i) {
    live.push_back(std::make_unique<ResumingWatcher>(*c, i, before + 1, i == 1));
    replay.push_back(std::make_unique<ResumingWatcher>(*c, i, 1, i == 2));
  }
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937_64 r(seed + t + 1);
      for (int i = 0; i < 60; ++i) {
        WriteSomewhere(
            *c, [&](KvClient& k, int64_t* rev) { return RandomWrite(k, r, rev); }, t);
      }
    });
  }
  for (auto& w : writers) w.join();
  const int64_t final_rev = CurrentRevision(*c);
  ASSERT_GT(final_rev, before);
  for (int i = 0; i < c->size(); ++i) {
    ASSERT_TRUE(live[i]->ReadThrough(final_rev, absl::Seconds(30))) << "member " << i;
    ASSERT_TRUE(replay[i]->ReadThrough(final_rev, absl::Seconds(30))) << "member " << i;
    EXPECT_EQ(live[i]->resumes(), 0);
    ExpectMatchesHistory(*c, *live[i], before + 1, final_rev, absl::StrCat("live watcher ", i));
    ExpectMatchesHistory(*c, *replay[i], 1, final_rev, absl::StrCat("replaying watcher ", i));
  }
}

TEST(Watch, LeaderKilledMidStreamWatchersResumeAndMissNothing) {
  auto c = StartCluster();
  ASSERT_NE(c, nullptr);
  absl::StatusOr<int> leader = c->WaitForLeader();
  ASSERT_TRUE(leader.ok());
  const int64_t start = CurrentRevision(*c) + 1;
  std::vector<std::unique_ptr<ResumingWatcher>> watchers;
  for (int i = 0; i < c->size(); ++i) {
    watchers.push_back(std::make_unique<ResumingWatcher>(*c, i, start, false));
  }
  const uint64_t seed = TestSeed();
  std::atomic<int> written{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::mt19937_64 rng(seed);
    int next = 0;
    while (!stop.load()) {
      if (WriteSomewhere(
              *c, [&](KvClient& k, int64_t* rev) { return RandomWrite(k, rng, rev); }, next++) >
          0) {
        written.fetch_add(1);
      }
    }
  });
  ASSERT_TRUE(Eventually(absl::Seconds(20), [&] { return written.load() >= 60; }));
  for (auto& w : watchers) w->Poll(absl::Milliseconds(100));
  c->Kill(*leader);
  ASSERT_TRUE(c->WaitForLeader().ok());
  const int after_kill = written.load();
  ASSERT_TRUE(Eventually(absl::Seconds(30), [&] { return written.load() >= after_kill + 60; }));
  stop.store(true);
  writer.join();
  const int64_t final_rev = CurrentRevision(*c);
  for (int i = 0; i < c->size(); ++i) {
    ASSERT_TRUE(watchers[i]->ReadThrough(final_rev, absl::Seconds(30))) << "watcher " << i;
    ExpectMatchesHistory(*c, *watchers[i], start, final_rev, absl::StrCat("watcher ", i));
  }
  EXPECT_GE(watchers[*leader]->resumes(), 1) << "the killed leader's watcher had to resume";
}

// A compacted start revision gets etcd's answer on every member.
TEST(Watch, CompactedStartRevisionIsCancelledWithTheCompactRevision) {
  auto c = StartCluster();
  ASSERT_NE(c, nullptr);
  KvClient client(c->ClientEndpoint(0));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client.Put(kPrefix + "a", absl::StrCat(i)).ok());
  const int64_t rev = CurrentRevision(*c);
  // Compact through the KV API of member 0.
  {
    grpc::ClientContext ctx;
    etcdserverpb::CompactionRequest req;
    req.set_revision(rev);
    etcdserverpb::CompactionResponse resp;
    ASSERT_TRUE(c->KV(0)->Compact(&ctx, req, &resp).ok());
  }
  for (int i = 0; i < c->size(); ++i) {
    // A follower applies the compaction on its own schedule; until it has, a watch from
    // revision 2 there is a valid catch-up, as on etcd.
    ASSERT_TRUE(Eventually(absl::Seconds(10),
                           [&] {
                             grpc::ClientContext ctx;
                             etcdserverpb::RangeRequest req;
                             req.set_key(kPrefix + "a");
                             req.set_revision(2);
                             req.set_serializable(true);
                             etcdserverpb::RangeResponse resp;
                             return c->KV(i)->Range(&ctx, req, &resp).error_code() ==
                                    grpc::StatusCode::OUT_OF_RANGE;
                           }))
        << "member " << i << " did not apply the compaction";
    WatchStream s(c->ClientEndpoint(i));
    s.Create(PrefixWatch(2));
    std::optional<etcdserverpb::WatchResponse> created = s.Next(absl::Seconds(10));
    ASSERT_TRUE(created.has_value());
    EXPECT_TRUE(created->created());
    std::optional<etcdserverpb::WatchResponse> cancelled = s.Next(absl::Seconds(10));
    ASSERT_TRUE(cancelled.has_value()) << "member " << i;
    EXPECT_TRUE(cancelled->canceled());
    EXPECT_EQ(cancelled->compact_revision(), rev);
  }
}

// Reads responses from `s` into `by_watch` (keyed by watch_id) until `done` holds for them.
bool CollectUntil(WatchStream& s,
                  std::map<int64_t, std::vector<etcdserverpb::WatchResponse>>& by_watch,
                  absl::Duration timeout, const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() >= deadline) return false;
    std::optional<etcdserverpb::WatchResponse> r = s.Next(absl::Milliseconds(100));
    if (r.has_value()) by_watch[r->watch_id()].push_back(*std::move(r));
  }
  return true;
}

int CountEvents(const std::vector<etcdserverpb::WatchResponse>& responses) {
  int n = 0;
  for (const auto& r : responses) n += r.events_size();
  return n;
}

// One stream on a follower carries watchers with every option etcd offers; each gets exactly
// what its options select.
TEST(Watch, OneStreamCarriesManyWatchersWithEtcdsOptions) {
  ClusterOptions options;
  // Progress notifications every 500 ms; fragments above 8 KiB + 512 KiB.
  options.extra_flags = {"--experimental-watch-progress-notify-interval", "500ms",
                         "--max-request-bytes", "8192"};
  auto c = StartCluster(options);
  ASSERT_NE(c, nullptr);
  absl::StatusOr<int> leader = c->WaitForLeader();
  ASSERT_TRUE(leader.ok());
  const int follower = (*leader + 1) % c->size();
  KvClient client(c->ClientEndpoint(*leader));
  const int64_t r0 = CurrentRevision(*c);
  WatchStream s(c->ClientEndpoint(follower));
  std::map<int64_t, std::vector<etcdserverpb::WatchResponse>> got;
  auto create = [&](auto fill) {
    etcdserverpb::WatchCreateRequest req;
    fill(req);
    ASSERT_TRUE(s.Create(req));
  };
  // 100: one key, client-chosen ID, no deletes.
  create([](auto& r) {
    r.set_key("/f/a");
    r.set_watch_id(100);
    r.add_filters(etcdserverpb::WatchCreateRequest::NODELETE);
  });
  // Server-chosen (0): a prefix, no puts, previous values.
  create([](auto& r) {
    r.set_key("/f/");
    r.set_range_end("/f0");
    r.set_prev_kv(true);
    r.add_filters(etcdserverpb::WatchCreateRequest::NOPUT);
  });
  // Server-chosen (1): every key from /f/m on.
  create([](auto& r) {
    r.set_key("/f/m");
    r.set_range_end(std::string(1, '\0'));
  });
  // A duplicate ID is refused.
  create([](auto& r) {
    r.set_key("/x");
    r.set_watch_id(100);
  });
  // Server-chosen (2): progress notifications on an idle prefix.
  create([](auto& r) {
    r.set_key("/idle/");
    r.set_range_end("/idle0");
    r.set_progress_notify(true);
  });
  // Server-chosen (3): a future start revision.
  create([&](auto& r) {
    r.set_key("/f/");
    r.set_range_end("/f0");
    r.set_start_revision(r0 + 3);
  });
  ASSERT_TRUE(CollectUntil(s, got, absl::Seconds(10), [&] {
    int created = 0;
    for (const auto& [id, rs] : got) {
      for (const auto& r : rs) created += r.created() ? 1 : 0;
    }
    return created == 6;
  }));
  for (int64_t id : {100, 0, 1, 2, 3}) {
    ASSERT_EQ(got[id].size(), 1u) << id;
    EXPECT_TRUE(got[id][0].created());
    EXPECT_FALSE(got[id][0].canceled());
  }
  ASSERT_EQ(got[-1].size(), 1u);
  EXPECT_TRUE(got[-1][0].created() && got[-1][0].canceled());
  EXPECT_EQ(got[-1][0].cancel_reason(), "mvcc: duplicate watch ID provided on the WatchStream");
  got.clear();

  ASSERT_TRUE(client.Put("/f/a", "a1").ok());  // r0+1
  ASSERT_TRUE(client.Put("/f/m", "m1").ok());  // r0+2
  ASSERT_TRUE(client.Delete("/f/a").ok());     // r0+3
  ASSERT_TRUE(client.Put("/g", "g1").ok());    // r0+4: from-key only
  ASSERT_TRUE(CollectUntil(s, got, absl::Seconds(10), [&] {
    return CountEvents(got[100]) >= 1 && CountEvents(got[0]) >= 1 && CountEvents(got[1]) >= 2 &&
           CountEvents(got[3]) >= 1 && !got[2].empty();
  }));
  ASSERT_EQ(CountEvents(got[100]), 1);
  EXPECT_EQ(got[100][0].events(0).type(), mvccpb::Event::PUT);
  EXPECT_EQ(got[100][0].events(0).kv().value(), "a1");
  ASSERT_EQ(CountEvents(got[0]), 1);
  const mvccpb::Event& del = got[0][0].events(0);
  EXPECT_EQ(del.type(), mvccpb::Event::DELETE);
  EXPECT_EQ(del.kv().mod_revision(), r0 + 3);
  EXPECT_EQ(del.prev_kv().value(), "a1");
  ASSERT_EQ(CountEvents(got[1]), 2);
  EXPECT_EQ(got[1][0].events(0).kv().key(), "/f/m");
  EXPECT_EQ(got[1].back().events(got[1].back().events_size() - 1).kv().key(), "/g");
  ASSERT_EQ(CountEvents(got[3]), 1) << "a future start revision replays from it only";
  EXPECT_EQ(got[3][0].events(0).kv().mod_revision(), r0 + 3);
  // Progress notification: no events, a revision the watcher can resume from.
  EXPECT_EQ(got[2][0].events_size(), 0);
  EXPECT_GE(got[2][0].header().revision(), r0);

  // Cancel 100: answered, and it gets nothing more.
  got.clear();
  ASSERT_TRUE(s.Cancel(100));
  ASSERT_TRUE(CollectUntil(s, got, absl::Seconds(10), [&] { return !got[100].empty(); }));
  EXPECT_TRUE(got[100][0].canceled());
  ASSERT_TRUE(client.Put("/f/a", "a2").ok());
  // A progress request is answered once everything up to the put was sent.
  etcdserverpb::PutResponse last;
  ASSERT_TRUE(client.Put("/f/z", "z", &last).ok());
  // The put was answered by the leader; the progress response carries the revision the
  // follower's watchers have reached, so ask once the follower has applied the put.
  KvClient on_follower(c->ClientEndpoint(follower));
  ASSERT_TRUE(Eventually(absl::Seconds(10), [&] {
    etcdserverpb::RangeRequest req;
    req.set_key("/f/z");
    req.set_serializable(true);
    etcdserverpb::RangeResponse resp;
    return on_follower.Range(req, &resp).ok() &&
           resp.header().revision() >= last.header().revision();
  })) << "the follower did not apply the put";
  ASSERT_TRUE(s.RequestProgress());
  ASSERT_TRUE(CollectUntil(s, got, absl::Seconds(10), [&] {
    for (const auto& r : got[-1]) {
      if (r.header().revision() >= last.header().revision()) return true;
    }
    return false;
  }));
  EXPECT_EQ(CountEvents(got[3]), 2) << "the put before the progress response arrived first";
  for (const auto& r : got[100]) EXPECT_EQ(r.events_size(), 0) << "cancelled watcher got events";
}

// A revision larger than the response limit arrives in fragments to a watcher that asked for
// them, whole to one that did not.
TEST(Watch, LargeRevisionsAreFragmentedOnlyWhenAsked) {
  ClusterOptions options;
  options.extra_flags = {"--max-request-bytes", "8192"};  // responses up to 8 KiB + 512 KiB
  auto c = StartCluster(options);
  ASSERT_NE(c, nullptr);
  KvClient client(c->ClientEndpoint(0));
  const int kKeys = 80;
  const std::string value(7900, 'v');
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(client.Put(absl::StrFormat("/big/%03d", i), value).ok());
  }
  WatchStream s(c->ClientEndpoint(1));
  for (bool fragment : {true, false}) {
    etcdserverpb::WatchCreateRequest req;
    req.set_key("/big/");
    req.set_range_end("/big0");
    req.set_prev_kv(true);
    req.set_fragment(fragment);
    req.set_watch_id(fragment ? 1 : 2);
    req.add_filters(etcdserverpb::WatchCreateRequest::NOPUT);
    ASSERT_TRUE(s.Create(req));
  }
  std::map<int64_t, std::vector<etcdserverpb::WatchResponse>> got;
  ASSERT_TRUE(
      CollectUntil(s, got, absl::Seconds(10), [&] { return got[1].size() + got[2].size() == 2; }));
  got.clear();
  // One revision deletes every key: 80 events carrying 7.9 KB previous values each.
  etcdserverpb::DeleteRangeRequest del;
  del.set_key("/big/");
  del.set_range_end("/big0");
  grpc::ClientContext ctx;
  etcdserverpb::DeleteRangeResponse del_resp;
  ASSERT_TRUE(c->KV(0)->DeleteRange(&ctx, del, &del_resp).ok());
  ASSERT_EQ(del_resp.deleted(), kKeys);
  ASSERT_TRUE(CollectUntil(s, got, absl::Seconds(20), [&] {
    return CountEvents(got[1]) == kKeys && CountEvents(got[2]) == kKeys;
  }));
  ASSERT_EQ(got[2].size(), 1u) << "unfragmented: one response";
  EXPECT_FALSE(got[2][0].fragment());
  ASSERT_GE(got[1].size(), 2u) << "fragmented: several responses";
  for (size_t i = 0; i < got[1].size(); ++i) {
    EXPECT_EQ(got[1][i].fragment(), i + 1 < got[1].size()) << i;
    EXPECT_LE(got[1][i].ByteSizeLong(), size_t{8192 + 512 * 1024}) << i;
    for (const auto& ev : got[1][i].events()) {
      EXPECT_EQ(ev.kv().mod_revision(), del_resp.header().revision());
      EXPECT_EQ(ev.prev_kv().value(), value);
    }
  }
}

ClusterOptions LeaseClusterOptions() {
  ClusterOptions o;
  o.extra_flags = {"--experimental-lease-checkpoint-interval", "500ms"};
  return o;
}

int64_t Grant(KvClient& client, int64_t ttl) {
  etcdserverpb::LeaseGrantResponse resp;
  grpc::Status st = client.LeaseGrant(ttl, 0, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.ttl(), ttl);
  return resp.id();
}

int64_t RemainingTtl(Cluster& c, int member, int64_t lease) {
  KvClient client(c.ClientEndpoint(member));
  etcdserverpb::LeaseTimeToLiveResponse resp;
  grpc::Status st = client.LeaseTimeToLive(lease, false, &resp);
  return st.ok() ? resp.ttl() : -100;
}

bool KeyExists(Cluster& c, int member, const std::string& key) {
  KvClient client(c.ClientEndpoint(member));
  std::string value;
  bool found = false;
  return client.Get(key, &value, &found).ok() && found;
}

TEST(Lease, RemainingTtlSurvivesALeaderChange) {
  auto c = StartCluster(LeaseClusterOptions());
  ASSERT_NE(c, nullptr);
  absl::StatusOr<int> leader = c->WaitForLeader();
  ASSERT_TRUE(leader.ok());
  const int follower = (*leader + 1) % c->size();
  KvClient client(c->ClientEndpoint(follower));
  const int64_t ttl = 8;
  const int64_t lease = Grant(client, ttl);
  ASSERT_TRUE(client.PutWithLease(kPrefix + "instance", "up", lease).ok());
  // Let part of the TTL pass (and be checkpointed).
  int64_t remaining = ttl;
  ASSERT_TRUE(Eventually(absl::Seconds(15), [&] {
    remaining = RemainingTtl(*c, follower, lease);
    return remaining >= 0 && remaining <= ttl - 4;
  })) << remaining;
  const absl::Time killed = absl::Now();
  c->Kill(*leader);
  absl::StatusOr<int> next = c->WaitForLeader();
  ASSERT_TRUE(next.ok());
  const absl::Time elected = absl::Now();
  const int64_t after = RemainingTtl(*c, *next, lease);
  EXPECT_GT(after, 0) << "expired early";
  // Checkpointed every 500 ms, rounded up to seconds, plus one election timeout of grace.
  EXPECT_LE(after, remaining + 2) << "not resumed from the checkpoint";
  EXPECT_LT(after, ttl) << "reset to the full TTL";
  ASSERT_TRUE(
      Eventually(absl::Seconds(20), [&] { return !KeyExists(*c, *next, kPrefix + "instance"); }));
  const absl::Duration lived = absl::Now() - killed;
  EXPECT_GE(lived, absl::Seconds(remaining - 1)) << "expired before its remaining TTL";
  // Counted from the election: the remaining TTL (checkpoint rounded up: +1 s), the grace of one
  // election timeout, and the polling above.
  EXPECT_LE(absl::Now() - elected, absl::Seconds(remaining + 3)) << "lived " << lived;
  EXPECT_EQ(RemainingTtl(*c, *next, lease), -1);
}

TEST(Lease, ExpiryDeletesEveryAttachedKeyInOneRevision) {
  auto c = StartCluster();
  ASSERT_NE(c, nullptr);
  absl::StatusOr<int> leader = c->WaitForLeader();
  ASSERT_TRUE(leader.ok());
  const int follower = (*leader + 1) % c->size();
  KvClient client(c->ClientEndpoint(*leader));
  // Long enough that the watch and the three puts are done before it expires, even on a slow disk.
  const int64_t lease = Grant(client, 4);
  WatchStream watch(c->ClientEndpoint(follower));
  const int64_t start = CurrentRevision(*c) + 1;
  watch.Create(PrefixWatch(start));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.PutWithLease(absl::StrCat(kPrefix, "i", i), "up", lease).ok());
  }
  std::vector<etcdserverpb::WatchResponse> deletes;
  ASSERT_TRUE(Eventually(absl::Seconds(20), [&] {
    std::optional<etcdserverpb::WatchResponse> r = watch.Next(absl::Milliseconds(100));
    if (r.has_value() && r->events_size() > 0 && r->events(0).type() == mvccpb::Event::DELETE) {
      deletes.push_back(*r);
    }
    return !deletes.empty();
  }));
  ASSERT_EQ(deletes[0].events_size(), 3) << deletes[0].DebugString();
  for (const auto& ev : deletes[0].events()) {
    EXPECT_EQ(ev.type(), mvccpb::Event::DELETE);
    EXPECT_EQ(ev.kv().mod_revision(), deletes[0].events(0).kv().mod_revision());
  }
  EXPECT_EQ(RemainingTtl(*c, follower, lease), -1);
  etcdserverpb::LeaseLeasesResponse leases;
  ASSERT_TRUE(client.LeaseLeases(&leases).ok());
  EXPECT_EQ(leases.leases_size(), 0);
  // A put with the expired lease is refused with etcd's error.
  grpc::Status st = client.PutWithLease(kPrefix + "late", "x", lease);
  EXPECT_EQ(st.error_message(), "etcdserver: requested lease not found");
}

TEST(Lease, KeepAlivesThroughAFollowerKeepTheLeaseWithoutRaftProposals) {
  auto c = StartCluster(LeaseClusterOptions());
  ASSERT_NE(c, nullptr);
  absl::StatusOr<int> leader = c->WaitForLeader();
  ASSERT_TRUE(leader.ok());
  const int follower = (*leader + 1) % c->size();
  KvClient client(c->ClientEndpoint(follower));
  const int64_t lease = Grant(client, 2);
  ASSERT_TRUE(client.PutWithLease(kPrefix + "alive", "1", lease).ok());
  KeepAliveStream keepalive(c->ClientEndpoint(follower));
  absl::StatusOr<etcdserverpb::StatusResponse> before = c->Status(*leader);
  ASSERT_TRUE(before.ok());
  // Four TTLs' worth of keep-alives, many per second.
  const absl::Time until = absl::Now() + absl::Seconds(8);
  int sent = 0;
  while (absl::Now() < until) {
    absl::StatusOr<int64_t> ttl = keepalive.KeepAlive(lease);
    ASSERT_TRUE(ttl.ok()) << ttl.status();
    EXPECT_EQ(*ttl, 2);
    ++sent;
    absl::SleepFor(absl::Milliseconds(5));  // the client's own pacing
  }
  absl::StatusOr<etcdserverpb::StatusResponse> after = c->Status(*leader);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(KeyExists(*c, follower, kPrefix + "alive"));
  // Checkpoints (twice a second here) are all the log saw.
  EXPECT_LT(after->raftindex() - before->raftindex(), 40u) << sent << " keep-alives";
  EXPECT_GT(sent, 100);
  // Once the keep-alives stop, the lease expires.
  ASSERT_TRUE(
      Eventually(absl::Seconds(15), [&] { return !KeyExists(*c, follower, kPrefix + "alive"); }));
  absl::StatusOr<int64_t> gone = keepalive.KeepAlive(lease);
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_EQ(*gone, 0);
}

TEST(Lease, LeasesSurviveARestartOfEveryMember) {
  auto c = StartCluster();
  ASSERT_NE(c, nullptr);
  KvClient client(c->ClientEndpoint(0));
  etcdserverpb::LeaseGrantResponse granted;
  ASSERT_TRUE(client.LeaseGrant(600, 0x1234, &granted).ok());
  EXPECT_EQ(granted.id(), 0x1234);
  ASSERT_TRUE(client.PutWithLease(kPrefix + "a", "1", 0x1234).ok());
  ASSERT_TRUE(client.PutWithLease(kPrefix + "b", "1", 0x1234).ok());
  etcdserverpb::LeaseGrantResponse dup;
  EXPECT_EQ(client.LeaseGrant(600, 0x1234, &dup).error_message(),
            "etcdserver: lease already exists");
  // ignore_lease keeps a key's lease; a put without a lease detaches the key.
  auto put = [&](const std::string& key, const std::string& value, int64_t lease,
                 bool ignore_lease) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    req.set_lease(lease);
    req.set_ignore_lease(ignore_lease);
    etcdserverpb::PutResponse resp;
    return c->KV(0)->Put(&ctx, req, &resp);
  };
  ASSERT_TRUE(put(kPrefix + "a", "2", 0, true).ok());
  ASSERT_TRUE(put(kPrefix + "c", "1", 0x1234, false).ok());
  ASSERT_TRUE(put(kPrefix + "c", "2", 0, false).ok());
  EXPECT_EQ(put(kPrefix + "missing", "1", 0, true).error_message(), "etcdserver: key not found");
  for (int i = 0; i < c->size(); ++i) ASSERT_TRUE(c->Stop(i).ok());
  for (int i = 0; i < c->size(); ++i) ASSERT_TRUE(c->Restart(i).ok());
  // Three members replaying their WAL at once can be slow on a loaded machine.
  ASSERT_TRUE(c->WaitForLeader(absl::Seconds(60)).ok());
  for (int i = 0; i < c->size(); ++i) {
    KvClient k(c->ClientEndpoint(i));
    etcdserverpb::LeaseTimeToLiveResponse ttl;
    ASSERT_TRUE(
        Eventually(absl::Seconds(10),
                   [&] { return k.LeaseTimeToLive(0x1234, true, &ttl).ok() && ttl.ttl() > 0; }))
        << "member " << i;
    EXPECT_EQ(ttl.grantedttl(), 600);
    EXPECT_GT(ttl.ttl(), 500);
    ASSERT_EQ(ttl.keys_size(), 2);
    EXPECT_EQ(ttl.keys(0), kPrefix + "a");
    EXPECT_EQ(ttl.keys(1), kPrefix + "b");
    etcdserverpb::LeaseLeasesResponse leases;
    ASSERT_TRUE(k.LeaseLeases(&leases).ok());
    ASSERT_EQ(leases.leases_size(), 1);
  }
  etcdserverpb::LeaseRevokeResponse revoked;
  ASSERT_TRUE(client.LeaseRevoke(0x1234, &revoked).ok());
  EXPECT_FALSE(KeyExists(*c, 1, kPrefix + "a"));
  EXPECT_EQ(client.LeaseRevoke(0x1234).error_message(), "etcdserver: requested lease not found");
}

}  // namespace
}  // namespace kvd::testing
