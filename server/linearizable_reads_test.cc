#include "server/linearizable_reads.h"

#include <atomic>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/errors.h"

namespace kvd::server {
namespace {

// Records the ReadIndex requests the coordinator makes, like the raft loop would receive them.
class FakeRaft {
 public:
  LinearizableReads::Hooks Hooks() {
    return {.request_read_index =
                [this](std::string ctx) {
                  absl::MutexLock lock(&mu_);
                  contexts_.push_back(ctx);
                },
            .leader_known = [this] { return leader_known_.load(); }};
  }
  // Waits until the coordinator has made n requests; returns the last context.
  std::string WaitForRequests(size_t n) {
    absl::MutexLock lock(&mu_);
    want_ = n;
    EXPECT_TRUE(mu_.AwaitWithTimeout(absl::Condition(this, &FakeRaft::Enough), absl::Seconds(10)));
    return contexts_.empty() ? "" : contexts_.back();
  }
  size_t requests() {
    absl::MutexLock lock(&mu_);
    return contexts_.size();
  }
  std::atomic<bool> leader_known_{true};

 private:
  bool Enough() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return contexts_.size() >= want_; }

  absl::Mutex mu_;
  std::vector<std::string> contexts_ ABSL_GUARDED_BY(mu_);
  size_t want_ ABSL_GUARDED_BY(mu_) = 0;
};

struct Outcome {
  absl::Mutex mu;
  int ok = 0;
  std::vector<absl::Status> errors;
  LinearizableReads::Ready Callback() {
    return [this](absl::Status s) {
      absl::MutexLock lock(&mu);
      if (s.ok()) {
        ++ok;
      } else {
        errors.push_back(s);
      }
    };
  }
  bool WaitForTotal(int n) {
    absl::MutexLock lock(&mu);
    want = n;
    return mu.AwaitWithTimeout(absl::Condition(this, &Outcome::Enough), absl::Seconds(10));
  }
  bool Enough() const { return ok + static_cast<int>(errors.size()) >= want; }
  int want = 0;
};

TEST(LinearizableReads, ReadsWaitingTogetherShareOneRound) {
  FakeRaft raft;
  Outcome out;
  LinearizableReads reads(raft.Hooks(), absl::Hours(1));  // no retry while the test runs
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  reads.Await(deadline, out.Callback());
  const std::string first = raft.WaitForRequests(1);
  // These arrive while the first round is in flight: they wait for the next round.
  for (int i = 0; i < 10; ++i) reads.Await(deadline, out.Callback());
  reads.OnApplied(5);
  reads.OnReadState({.index = 5, .context = first});
  ASSERT_TRUE(out.WaitForTotal(1));
  const std::string second = raft.WaitForRequests(2);
  EXPECT_NE(first, second);
  EXPECT_EQ(raft.requests(), 2u);  // ten reads, one more round
  // The second round's index is not applied yet: nothing is served until it is.
  reads.OnReadState({.index = 8, .context = second});
  {
    absl::MutexLock lock(&out.mu);
    EXPECT_EQ(out.ok, 1);
  }
  reads.OnApplied(8);
  ASSERT_TRUE(out.WaitForTotal(11));
  absl::MutexLock lock(&out.mu);
  EXPECT_EQ(out.ok, 11);
  EXPECT_TRUE(out.errors.empty());
}

TEST(LinearizableReads, AnswerForAnOldContextIsIgnored) {
  FakeRaft raft;
  Outcome out;
  LinearizableReads reads(raft.Hooks(), absl::Hours(1));  // no retry while the test runs
  reads.Await(absl::Now() + absl::Seconds(30), out.Callback());
  raft.WaitForRequests(1);
  reads.OnApplied(100);
  reads.OnReadState({.index = 1, .context = "not-a-context-it-asked-with"});
  // An accepted answer would have completed the read inside OnReadState, on this thread.
  absl::MutexLock lock(&out.mu);
  EXPECT_EQ(out.ok, 0);
}

TEST(LinearizableReads, UnansweredRoundIsAskedAgain) {
  FakeRaft raft;
  Outcome out;
  LinearizableReads reads(raft.Hooks(), absl::Milliseconds(20));
  reads.Await(absl::Now() + absl::Seconds(30), out.Callback());
  raft.WaitForRequests(1);
  const std::string retry = raft.WaitForRequests(2);
  reads.OnReadState({.index = 0, .context = retry});
  ASSERT_TRUE(out.WaitForTotal(1));
  absl::MutexLock lock(&out.mu);
  EXPECT_EQ(out.ok, 1);
}

TEST(LinearizableReads, DeadlineWithoutLeaderSaysNoLeader) {
  FakeRaft raft;
  raft.leader_known_ = false;
  Outcome out;
  LinearizableReads reads(raft.Hooks(), absl::Milliseconds(20));
  reads.Await(absl::Now() + absl::Milliseconds(100), out.Callback());
  ASSERT_TRUE(out.WaitForTotal(1));
  absl::MutexLock lock(&out.mu);
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_TRUE(IsErr(out.errors[0], ErrNoLeader())) << out.errors[0];
}

TEST(LinearizableReads, DeadlineWithLeaderSaysTimedOut) {
  FakeRaft raft;
  Outcome out;
  LinearizableReads reads(raft.Hooks(), absl::Milliseconds(20));
  reads.Await(absl::Now() + absl::Milliseconds(100), out.Callback());
  ASSERT_TRUE(out.WaitForTotal(1));
  absl::MutexLock lock(&out.mu);
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_TRUE(IsErr(out.errors[0], ErrTimeout())) << out.errors[0];
}

}  // namespace
}  // namespace kvd::server
