// Progress (probe / replicate / snapshot states) and its Inflights window.
#include "raft/progress.h"

#include "gtest/gtest.h"
#include "raft/inflights.h"

namespace kvd::raft {
namespace {

TEST(Inflights, FullWindowBlocksUntilFreed) {
  Inflights in(3);
  in.Add(5);
  in.Add(7);
  EXPECT_FALSE(in.Full());
  in.Add(9);
  EXPECT_TRUE(in.Full());
  in.FreeLE(6);
  EXPECT_EQ(in.Count(), 2u);
  EXPECT_FALSE(in.Full());
  in.Add(11);  // wraps around the ring
  EXPECT_TRUE(in.Full());
  in.FreeLE(100);
  EXPECT_EQ(in.Count(), 0u);
}

TEST(Inflights, FreeFirstOneAndReset) {
  Inflights in(2);
  in.Add(1);
  in.Add(2);
  in.FreeFirstOne();
  EXPECT_EQ(in.Count(), 1u);
  in.FreeLE(1);  // 2 stays: only messages at or below 1 are freed
  EXPECT_EQ(in.Count(), 1u);
  in.Reset();
  EXPECT_EQ(in.Count(), 0u);
  in.FreeFirstOne();  // no-op on empty
  EXPECT_EQ(in.Count(), 0u);
}

TEST(InflightsDeathTest, AddingToFullWindowCrashes) {
  Inflights in(1);
  in.Add(1);
  EXPECT_DEATH(in.Add(2), "full inflight window");
}

TEST(Progress, ProbeSendsOneAppendAtATime) {
  Progress pr(5, 4, false);
  EXPECT_EQ(pr.state, ProgressState::kProbe);
  EXPECT_FALSE(pr.IsPaused());
  pr.SentEntries(7, 3);
  EXPECT_TRUE(pr.IsPaused());
  EXPECT_EQ(pr.next, 5u);  // probing does not advance next optimistically
  EXPECT_TRUE(pr.MaybeUpdate(7));
  EXPECT_FALSE(pr.IsPaused());
  EXPECT_EQ(pr.match, 7u);
  EXPECT_EQ(pr.next, 8u);
}

TEST(Progress, ReplicateStreamsUntilWindowIsFull) {
  Progress pr(1, 2, false);
  pr.match = 3;
  pr.BecomeReplicate();
  EXPECT_EQ(pr.next, 4u);
  pr.SentEntries(5, 2);
  EXPECT_EQ(pr.next, 6u);
  EXPECT_FALSE(pr.IsPaused());
  pr.SentEntries(8, 3);
  EXPECT_TRUE(pr.IsPaused());
  EXPECT_TRUE(pr.MaybeUpdate(5));
  pr.inflights.FreeLE(5);
  EXPECT_FALSE(pr.IsPaused());
}

TEST(Progress, MaybeUpdateIgnoresStaleAcknowledgements) {
  Progress pr(10, 4, false);
  pr.match = 9;
  EXPECT_FALSE(pr.MaybeUpdate(8));
  EXPECT_EQ(pr.match, 9u);
  EXPECT_EQ(pr.next, 10u);
}

TEST(Progress, MaybeDecrToInProbeUsesHintAndIgnoresStaleRejections) {
  Progress pr(10, 4, false);
  pr.match = 2;
  // A rejection of something other than the latest probe (next - 1 == 9) is stale.
  EXPECT_FALSE(pr.MaybeDecrTo(7, 3));
  EXPECT_EQ(pr.next, 10u);
  // The hint moves next to hint + 1 ...
  EXPECT_TRUE(pr.MaybeDecrTo(9, 4));
  EXPECT_EQ(pr.next, 5u);
  // ... but never to or below match.
  EXPECT_TRUE(pr.MaybeDecrTo(4, 0));
  EXPECT_EQ(pr.next, 3u);
}

TEST(Progress, MaybeDecrToInReplicateFallsBackToMatch) {
  Progress pr(1, 4, false);
  pr.match = 5;
  pr.BecomeReplicate();
  pr.SentEntries(9, 4);
  EXPECT_FALSE(pr.MaybeDecrTo(5, 0));  // at or below match: stale
  EXPECT_TRUE(pr.MaybeDecrTo(7, 0));
  EXPECT_EQ(pr.next, 6u);
}

TEST(Progress, SnapshotStatePausesAndProbesAfterwards) {
  Progress pr(3, 4, false);
  pr.match = 2;
  pr.BecomeSnapshot(20);
  EXPECT_TRUE(pr.IsPaused());
  // Back to probe: the follower has at least the snapshot.
  pr.BecomeProbe();
  EXPECT_EQ(pr.next, 21u);
  EXPECT_EQ(pr.pending_snapshot, 0u);
  // A failed snapshot: probing resumes from match.
  pr.BecomeSnapshot(30);
  pr.pending_snapshot = 0;
  pr.BecomeProbe();
  EXPECT_EQ(pr.next, 3u);
}

TEST(Progress, ResetForgetsEverything) {
  Progress pr(3, 4, true);
  pr.match = 2;
  pr.recent_active = true;
  pr.BecomeReplicate();
  pr.SentEntries(5, 1);
  pr.Reset(9);
  EXPECT_EQ(pr.match, 0u);
  EXPECT_EQ(pr.next, 9u);
  EXPECT_EQ(pr.state, ProgressState::kProbe);
  EXPECT_FALSE(pr.recent_active);
  EXPECT_EQ(pr.inflights.Count(), 0u);
  EXPECT_TRUE(pr.is_learner);
}

}  // namespace
}  // namespace kvd::raft
