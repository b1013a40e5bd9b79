#include "server/wait.h"

#include <atomic>
#include <set>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/errors.h"

namespace kvd::server {
namespace {

TEST(WaitRegistry, TriggerCompletesOnceWithTheResult) {
  WaitRegistry waits;
  int calls = 0;
  int64_t revision = 0;
  waits.Register(7, absl::Now() + absl::Seconds(30), [&](ApplyResult r) {
    ++calls;
    revision = r.revision;
    EXPECT_TRUE(r.status.ok());
  });
  EXPECT_TRUE(waits.Trigger(7, ApplyResult{absl::OkStatus(), nullptr, 42}));
  EXPECT_FALSE(waits.Trigger(7, ApplyResult{absl::OkStatus(), nullptr, 43}));
  EXPECT_FALSE(waits.Fail(7, ErrNoLeader()));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(revision, 42);
  EXPECT_EQ(waits.size(), 0u);
}

TEST(WaitRegistry, UnknownIdIsNotAnError) {
  WaitRegistry waits;
  EXPECT_FALSE(waits.Trigger(99, ApplyResult{}));
}

TEST(WaitRegistry, DeadlineFailsWithEtcdTimeout) {
  WaitRegistry waits;
  absl::Notification done;
  absl::Status got;
  waits.Register(1, absl::Now() + absl::Milliseconds(50), [&](ApplyResult r) {
    got = r.status;
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(IsErr(got, ErrTimeout())) << got;
  // A late result finds no waiter.
  EXPECT_FALSE(waits.Trigger(1, ApplyResult{}));
}

TEST(WaitRegistry, ShutdownFailsEveryWaiter) {
  std::atomic<int> stopped{0};
  {
    WaitRegistry waits;
    for (uint64_t id = 1; id <= 5; ++id) {
      waits.Register(id, absl::Now() + absl::Hours(1), [&](ApplyResult r) {
        if (IsErr(r.status, ErrStopped())) ++stopped;
      });
    }
  }
  EXPECT_EQ(stopped.load(), 5);
}

TEST(RequestIdGenerator, IdsAreUniqueAndCarryTheMember) {
  RequestIdGenerator gen(0xabcd1234, absl::FromUnixMillis(1700000000000));
  std::set<uint64_t> ids;
  for (int i = 0; i < 10000; ++i) ids.insert(gen.Next());
  EXPECT_EQ(ids.size(), 10000u);
  EXPECT_EQ(*ids.begin() >> 48, 0x1234u);
}

}  // namespace
}  // namespace kvd::server
