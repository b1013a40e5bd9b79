// A real 3-member kvd cluster on loopback under the faults users meet: a leader killed under
// writes, a member down for long, all members restarted, a paused leader, a lost majority.
// Each test asserts what a client sees.
#include "tests/harness/cluster.h"

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/harness/client.h"
#include "tests/harness/gtest_support.h"

namespace kvd::testing {
namespace {

// Every key of `want` reads back, with its value, from member i (serializable: its own state).
void ExpectMemberHas(Cluster& c, int i, const std::map<std::string, std::string>& want) {
  KvClient client(c.ClientEndpoint(i));
  for (const auto& [key, value] : want) {
    std::string got;
    bool found = false;
    grpc::Status st = client.Get(key, &got, &found, /*serializable=*/true);
    ASSERT_TRUE(st.ok()) << c.member(i).name << ": " << st.error_message();
    ASSERT_TRUE(found) << c.member(i).name << " lost acknowledged key " << key;
    EXPECT_EQ(got, value) << key;
  }
}

// Waits until every running member has applied at least what the leader has.
void WaitConverged(Cluster& c) {
  ASSERT_TRUE(Eventually(absl::Seconds(20), [&] {
    std::set<uint64_t> applied;
    for (int i = 0; i < c.size(); ++i) {
      if (!c.IsRunning(i) || c.member(i).paused) continue;
      absl::StatusOr<etcdserverpb::StatusResponse> s = c.Status(i);
      if (!s.ok()) return false;
      applied.insert(s->raftappliedindex());
    }
    return applied.size() == 1;
  })) << "members did not converge";
}

TEST(Cluster, ServesWritesAndReadsOnEveryMember) {
  auto c = StartCluster();
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < c->size(); ++i) {
    KvClient client(c->ClientEndpoint(i));
    ASSERT_TRUE(client.Put(absl::StrCat("k", i), absl::StrCat("v", i)).ok());
  }
  for (int i = 0; i < c->size(); ++i) {
    KvClient client(c->ClientEndpoint(i));
    for (int j = 0; j < c->size(); ++j) {
      std::string value;
      bool found = false;
      ASSERT_TRUE(client.Get(absl::StrCat("k", j), &value, &found).ok());
      EXPECT_TRUE(found);
      EXPECT_EQ(value, absl::StrCat("v", j));
    }
  }
}

TEST(Cluster, LeaderKilledUnderWritesLosesNoAcknowledgedWrite) {
  auto c = StartCluster();
  ASSERT_NE(c, nullptr);
  absl::StatusOr<int> leader = c->WaitForLeader();
  ASSERT_TRUE(leader.ok());
  std::map<std::string, std::string> acked;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::thread writer([&] {
    for (int n = 0; !stop.load(); ++n) {
      const std::string key = absl::StrCat("key-", n);
      for (int i = 0; i < c->size() && !stop.load(); ++i) {
        KvClient client(c->ClientEndpoint((n + i) % c->size()), std::chrono::seconds(3));
        if (client.Put(key, absl::StrCat("value-", n)).ok()) {
          std::lock_guard<std::mutex> lock(mu);
          acked[key] = absl::StrCat("value-", n);
          break;
        }
      }
    }
  });
  ASSERT_TRUE(Eventually(absl::Seconds(20), [&] {
    std::lock_guard<std::mutex> lock(mu);
    return acked.size() >= 50;
  }));
  const absl::Time killed_at = absl::Now();
  c->Kill(*leader);
  absl::StatusOr<int> next = c->WaitForLeader(absl::Seconds(10));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_NE(*next, *leader);
  // A few election timeouts (500 ms each here, randomized up to 1 s), not more; the bound leaves
  // room for reaping the killed member and for a sanitizer build polling three members.
  EXPECT_LT(absl::Now() - killed_at, absl::Seconds(8));
  size_t before = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    before = acked.size();
  }
  ASSERT_TRUE(Eventually(absl::Seconds(20), [&] {
    std::lock_guard<std::mutex> lock(mu);
    return acked.size() >= before + 50;
  })) << "writes did not resume under the new leader";
  stop = true;
  writer.join();
  ASSERT_TRUE(c->Restart(*leader).ok());
  ASSERT_TRUE(c->WaitForLeader().ok());
  WaitConverged(*c);
  for (int i = 0; i < c->size(); ++i) ExpectMemberHas(*c, i, acked);
}

TEST(Cluster, MemberDownLongerThanSnapshotCountCatchesUpFromSnapshot) {
  ClusterOptions options;
  options.snapshot_count = 50;
  auto c = StartCluster(options);
  ASSERT_NE(c, nullptr);
  absl::StatusOr<int> leader = c->WaitForLeader();
  ASSERT_TRUE(leader.ok());
  const int down = (*leader + 1) % c->size();
  c->Kill(down);
  std::map<std::string, std::string> written;
  KvClient client(c->ClientEndpoint(*leader));
  for (int n = 0; n < 400; ++n) {
    const std::string key = absl::StrCat("snap-", n);
    ASSERT_TRUE(client.Put(key, std::string(100, 'a' + n % 26)).ok());
    written[key] = std::string(100, 'a' + n % 26);
  }
  ASSERT_TRUE(c->Restart(down).ok());
  WaitConverged(*c);
  ExpectMemberHas(*c, down, written);
  EXPECT_NE(c->LogTail(down, 200).find("installing the store image"), std::string::npos)
      << "the member caught up without a snapshot; the test no longer tests what it says:\n"
      << c->LogTail(down, 50);
}

TEST(Cluster, RestartOfEveryMemberKeepsAllData) {
  auto c = StartCluster();
  ASSERT_NE(c, nullptr);
  std::map<std::string, std::string> written;
  KvClient client(c->ClientEndpoint(0));
  for (int n = 0; n < 100; ++n) {
    ASSERT_TRUE(client.Put(absl::StrCat("r-", n), absl::StrCat(n)).ok());
    written[absl::StrCat("r-", n)] = absl::StrCat(n);
  }
  for (int i = 0; i < c->size(); ++i) {
    absl::StatusOr<int> exit = c->Stop(i);
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_EQ(*exit, 0) << "SIGTERM should end a member cleanly:\n" << c->LogTail(i);
  }
  for (int i = 0; i < c->size(); ++i) ASSERT_TRUE(c->Restart(i).ok());
  // Three members replaying their WALs at once on two cores can be slow.
  ASSERT_TRUE(c->WaitForLeader(absl::Seconds(60)).ok());
  for (int i = 0; i < c->size(); ++i) {
    KvClient reader(c->ClientEndpoint(i));
    for (const auto& [key, value] : written) {
      std::string got;
      bool found = false;
      ASSERT_TRUE(reader.Get(key, &got, &found).ok());
      ASSERT_TRUE(found) << key;
      EXPECT_EQ(got, value);
    }
  }
}

TEST(Cluster, PausedLeaderComesBackWithoutServingStaleReads) {
  auto c = StartCluster();
  ASSERT_NE(c, nullptr);
  absl::StatusOr<int> old_leader = c->WaitForLeader();
  ASSERT_TRUE(old_leader.ok());
  ASSERT_TRUE(KvClient(c->ClientEndpoint(*old_leader)).Put("x", "old").ok());
  c->Pause(*old_leader);
  absl::StatusOr<int> new_leader = c->WaitForLeader(absl::Seconds(10));
  ASSERT_TRUE(new_leader.ok()) << new_leader.status();
  ASSERT_NE(*new_leader, *old_leader);
  ASSERT_TRUE(KvClient(c->ClientEndpoint(*new_leader)).Put("x", "new").ok());
  c->Resume(*old_leader);
  // The old leader must never answer a linearizable read with the old value: either the new
  // value or an error, until it learns of the new term; then always the new value.
  KvClient stale(c->ClientEndpoint(*old_leader), std::chrono::seconds(3));
  bool saw_new = false;
  ASSERT_TRUE(Eventually(absl::Seconds(15), [&] {
    std::string value;
    bool found = false;
    grpc::Status st = stale.Get("x", &value, &found);
    if (st.ok()) {
      EXPECT_EQ(value, "new") << "stale read from the old leader";
      saw_new = value == "new";
    }
    return saw_new;
  }));
  absl::StatusOr<int> leader = c->WaitForLeader();
  ASSERT_TRUE(leader.ok());
  EXPECT_EQ(*leader, *new_leader) << "the resumed member should not have disrupted the leader";
}

TEST(Cluster, MinorityRefusesWritesAndLinearizableReadsButServesSerializable) {
  auto c = StartCluster();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(KvClient(c->ClientEndpoint(0)).Put("cp", "before").ok());
  WaitConverged(*c);
  c->Kill(1);
  c->Kill(2);
  // A write that reaches a lone member while it still believes it leads is appended to its log
  // and times out: its outcome is unknown, as with etcd, and a later leader may commit it. Once
  // the member has noticed it lost its quorum (check-quorum, one election timeout) it knows no
  // leader, and every write is refused before it is proposed: that is the refusal that must
  // change nothing.
  ASSERT_TRUE(Eventually(absl::Seconds(10),
                         [&] {
                           absl::StatusOr<etcdserverpb::StatusResponse> status = c->Status(0);
                           return status.ok() && status->leader() == 0;
                         }))
      << "member 0 still reports a leader with both peers down:\n"
      << c->LogTail(0);
  KvClient lonely(c->ClientEndpoint(0), std::chrono::seconds(12));
  grpc::Status put = lonely.Put("cp", "after");
  EXPECT_FALSE(put.ok()) << "a minority acknowledged a write";
  EXPECT_EQ(put.error_code(), grpc::StatusCode::UNAVAILABLE) << put.error_message();
  EXPECT_EQ(put.error_message(), "etcdserver: no leader");
  std::string value;
  bool found = false;
  grpc::Status get = lonely.Get("cp", &value, &found);
  EXPECT_FALSE(get.ok()) << "a minority answered a linearizable read";
  EXPECT_EQ(get.error_code(), grpc::StatusCode::UNAVAILABLE) << get.error_message();
  grpc::Status local = lonely.Get("cp", &value, &found, /*serializable=*/true);
  ASSERT_TRUE(local.ok()) << local.error_message();
  EXPECT_EQ(value, "before");
  // The majority back: the write that was refused did not happen.
  ASSERT_TRUE(c->Restart(1).ok());
  ASSERT_TRUE(c->Restart(2).ok());
  ASSERT_TRUE(c->WaitForLeader().ok());
  ASSERT_TRUE(Eventually(absl::Seconds(10), [&] { return lonely.Get("cp", &value, &found).ok(); }));
  EXPECT_EQ(value, "before");
}

TEST(Cluster, MemberListAndStatusDescribeTheCluster) {
  auto c = StartCluster();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->WaitForLeader().ok());
  grpc::ClientContext ctx;
  etcdserverpb::MemberListResponse members;
  ASSERT_TRUE(c->ClusterApi(0)->MemberList(&ctx, {}, &members).ok());
  ASSERT_EQ(members.members_size(), 3);
  std::set<std::string> names;
  for (const auto& m : members.members()) {
    names.insert(m.name());
    EXPECT_EQ(m.peerurls_size(), 1);
    EXPECT_FALSE(m.islearner());
  }
  EXPECT_EQ(names, (std::set<std::string>{"m1", "m2", "m3"}));
  // Client URLs appear once each member has announced itself.
  ASSERT_TRUE(Eventually(absl::Seconds(10), [&] {
    grpc::ClientContext ctx2;
    etcdserverpb::MemberListResponse now;
    if (!c->ClusterApi(1)->MemberList(&ctx2, {}, &now).ok()) return false;
    for (const auto& m : now.members()) {
      if (m.clienturls_size() != 1) return false;
    }
    return true;
  }));
  absl::StatusOr<etcdserverpb::StatusResponse> status = c->Status(2);
  ASSERT_TRUE(status.ok());
  EXPECT_NE(status->leader(), 0u);
  EXPECT_NE(status->header().cluster_id(), 0u);
  EXPECT_GT(status->raftindex(), 0u);
  EXPECT_FALSE(status->version().empty());
}

TEST(Cluster, MemberThatLostItsDataDirectoryRefusesToBootstrapAgain) {
  auto c = StartCluster();
  ASSERT_NE(c, nullptr);
  // Wait until every member has announced itself (it has "run" in the cluster).
  ASSERT_TRUE(Eventually(absl::Seconds(10), [&] {
    grpc::ClientContext ctx;
    etcdserverpb::MemberListResponse members;
    if (!c->ClusterApi(0)->MemberList(&ctx, {}, &members).ok()) return false;
    for (const auto& m : members.members()) {
      if (m.clienturls_size() == 0) return false;
    }
    return true;
  }));
  c->Kill(2);
  c->Wipe(2);
  ASSERT_TRUE(c->Restart(2).ok());
  absl::StatusOr<int> exit = c->WaitExit(2);
  ASSERT_TRUE(exit.ok()) << "a member with a wiped data directory started again:\n"
                         << c->LogTail(2);
  EXPECT_EQ(*exit, 1);
  EXPECT_NE(c->LogTail(2).find("already ran in cluster"), std::string::npos) << c->LogTail(2);
}

TEST(Cluster, QuotaRefusesWritesThatAddDataUntilSpaceIsFreed) {
  ClusterOptions options;
  options.extra_flags = {"--quota-backend-bytes", "16777216"};  // 16 MiB
  auto c = StartCluster(options);
  ASSERT_NE(c, nullptr);
  KvClient client(c->ClientEndpoint(0));
  const std::string megabyte(1 << 20, 'q');
  grpc::Status refused;
  int written = 0;
  for (; written < 64; ++written) {
    refused = client.Put(absl::StrCat("big-", written), megabyte);
    if (!refused.ok()) break;
  }
  ASSERT_FALSE(refused.ok()) << "64 MiB written into a 16 MiB quota";
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.error_message(), "etcdserver: mvcc: database space exceeded");
  EXPECT_GE(written, 8) << "refused long before the quota";
  {
    grpc::ClientContext ctx;
    etcdserverpb::AlarmResponse alarms;
    ASSERT_TRUE(c->Maintenance(0)->Alarm(&ctx, etcdserverpb::AlarmRequest(), &alarms).ok());
    ASSERT_EQ(alarms.alarms_size(), 1);
    EXPECT_EQ(alarms.alarms(0).alarm(), etcdserverpb::NOSPACE);
  }
  // Deletes and compaction still go through, and free the space once defragmented.
  {
    etcdserverpb::DeleteRangeRequest all;
    all.set_key("big-");
    all.set_range_end("big.");
    grpc::ClientContext ctx;
    etcdserverpb::DeleteRangeResponse resp;
    ASSERT_TRUE(c->KV(0)->DeleteRange(&ctx, all, &resp).ok());
    EXPECT_EQ(resp.deleted(), written);
    grpc::ClientContext compact_ctx;
    etcdserverpb::CompactionRequest compact;
    compact.set_revision(resp.header().revision());
    compact.set_physical(true);
    etcdserverpb::CompactionResponse compacted;
    ASSERT_TRUE(c->KV(0)->Compact(&compact_ctx, compact, &compacted).ok());
  }
  grpc::ClientContext defrag_ctx;
  etcdserverpb::DefragmentResponse defrag;
  ASSERT_TRUE(c->Maintenance(0)->Defragment(&defrag_ctx, {}, &defrag).ok());
  EXPECT_TRUE(client.Put("small", "fits again").ok());
}

}  // namespace
}  // namespace kvd::testing
