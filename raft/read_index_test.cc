// ReadIndexRounds: the bookkeeping that lets many reads share one heartbeat round.
#include "raft/read_index.h"

#include "gtest/gtest.h"

namespace kvd::raft {
namespace {

TEST(ReadIndexRounds, ReadsArrivingDuringARoundWaitForTheNext) {
  ReadIndexRounds r;
  r.Enqueue({.from = 1, .context = "a"});
  r.Enqueue({.from = 2, .context = "b"});
  const uint64_t round = r.StartRound(10);
  EXPECT_TRUE(r.InFlight());
  EXPECT_EQ(r.in_flight(), 2u);
  r.Enqueue({.from = 1, .context = "c"});  // joins the next round
  EXPECT_EQ(r.waiting(), 1u);
  r.RecordAck(2, round);
  r.RecordAck(3, round + 1);  // not this round: ignored
  EXPECT_EQ(r.acks().size(), 1u);
  ReadIndexRounds::FinishedRound done = r.FinishRound();
  EXPECT_EQ(done.index, 10u);
  ASSERT_EQ(done.requests.size(), 2u);
  EXPECT_EQ(done.requests[0].context, "a");
  EXPECT_EQ(done.requests[1].context, "b");
  EXPECT_FALSE(r.InFlight());
  const uint64_t next = r.StartRound(12);
  EXPECT_GT(next, round);
  EXPECT_EQ(r.FinishRound().requests[0].context, "c");
}

TEST(ReadIndexRounds, ResetDropsEverything) {
  ReadIndexRounds r;
  r.Enqueue({.from = 1, .context = "a"});
  r.StartRound(3);
  r.Enqueue({.from = 1, .context = "b"});
  r.Reset();
  EXPECT_FALSE(r.InFlight());
  EXPECT_FALSE(r.HasWaiting());
}

TEST(ReadIndexRounds, RoundContextRoundTrips) {
  EXPECT_EQ(ReadIndexRounds::DecodeRound(ReadIndexRounds::EncodeRound(42)), 42u);
  EXPECT_EQ(ReadIndexRounds::DecodeRound(""), 0u);
  EXPECT_EQ(ReadIndexRounds::DecodeRound("not-a-round"), 0u);
}

}  // namespace
}  // namespace kvd::raft
