// A member stopped with SIGTERM while clients keep writing through every member exits 0 and comes
// back on its data: shutdown must not tear down what the Raft loop and the applier still use
// (found by the chaos suite's restart nemesis: a member exited with SIGSEGV on SIGTERM).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/harness/client.h"
#include "tests/harness/cluster.h"

namespace kvd::testing {
namespace {

TEST(ShutdownTest, SigtermUnderWriteLoadExitsCleanly) {
  absl::StatusOr<std::unique_ptr<Cluster>> started = Cluster::Start(ClusterOptions{});
  ASSERT_TRUE(started.ok()) << started.status();
  Cluster& cluster = **started;

  std::atomic<bool> stop{false};
  std::atomic<int> acknowledged{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 6; ++w) {
    writers.emplace_back([&, w] {
      KvClient client(cluster.ClientEndpoint(w % cluster.size()), std::chrono::seconds(2));
      for (int seq = 0; !stop; ++seq) {
        if (client.Put(absl::StrCat("k", w), absl::StrCat(seq)).ok()) acknowledged++;
      }
    });
  }
  for (int round = 0; round < 6; ++round) {
    const int i = round % cluster.size();
    // Wait until writes flow again after the previous restart, so the member is applying.
    const int before = acknowledged.load();
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (acknowledged.load() < before + 200 && absl::Now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_GE(acknowledged.load(), before + 200) << "writes did not resume before round " << round;
    absl::StatusOr<int> exit = cluster.Stop(i);
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_EQ(*exit, 0) << cluster.member(i).name << " exited with " << *exit
                        << " on SIGTERM; log tail:\n"
                        << cluster.LogTail(i, 40);
    ASSERT_TRUE(cluster.Restart(i).ok());
    // Every member answers and follows one leader before the next is stopped: stopping another
    // while this one still replays its WAL would leave one voter and no writes.
    absl::StatusOr<int> leader = cluster.WaitForLeader(absl::Seconds(60));
    ASSERT_TRUE(leader.ok()) << leader.status();
  }
  stop = true;
  for (std::thread& t : writers) t.join();
  EXPECT_TRUE(cluster.WaitForLeader().ok());
}

}  // namespace
}  // namespace kvd::testing
