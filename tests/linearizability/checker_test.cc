// Hand-made histories with a known verdict: ones a correct store may produce (accepted) and
// ones no linearizable store can produce (rejected).
#include "tests/linearizability/checker.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/linearizability/history.h"

namespace kvd::linearizability {
namespace {

constexpr std::optional<Time> kNoReturn = std::nullopt;
const Value kAbsent = std::nullopt;

CheckResult Check(const std::vector<Operation>& h, CheckOptions options = {}) {
  absl::StatusOr<CheckResult> r = CheckHistory(h, options);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : CheckResult{};
}

void ExpectLinearizable(const std::vector<Operation>& h) {
  CheckResult r = Check(h);
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << FormatHistory(h) << r.Report();
}

CheckResult ExpectViolation(const std::vector<Operation>& h) {
  CheckResult r = Check(h);
  EXPECT_EQ(r.verdict, Verdict::kNotLinearizable) << FormatHistory(h) << r.Report();
  return r;
}

TEST(CheckerAccepts, EmptyHistory) { ExpectLinearizable({}); }

TEST(CheckerAccepts, SequentialReadsSeeLatestWrite) {
  ExpectLinearizable({
      GetOp(1, 0, 1, "x", kAbsent),
      PutOp(1, 2, 3, "x", "a"),
      GetOp(1, 4, 5, "x", "a"),
      PutOp(1, 6, 7, "x", "b"),
      GetOp(1, 8, 9, "x", "b"),
      DeleteOp(1, 10, 11, "x", true),
      GetOp(1, 12, 13, "x", kAbsent),
      DeleteOp(1, 14, 15, "x", false),
  });
}

TEST(CheckerAccepts, ConcurrentReadMaySeeEitherSideOfAWrite) {
  // The write overlaps both reads, which overlap each other: the one that saw the old value
  // took effect before the write, the other after it.
  ExpectLinearizable({
      PutOp(1, 0, 1, "x", "a"),
      PutOp(1, 10, 20, "x", "b"),
      GetOp(2, 11, 14, "x", "b"),
      GetOp(3, 12, 13, "x", "a"),
  });
}

TEST(CheckerAccepts, OverlappingWritesInEitherOrder) {
  ExpectLinearizable({
      PutOp(1, 0, 10, "x", "a"), PutOp(2, 1, 11, "x", "b"), GetOp(3, 12, 13, "x", "a"),  // b then a
  });
  ExpectLinearizable({
      PutOp(1, 0, 10, "x", "a"), PutOp(2, 1, 11, "x", "b"), GetOp(3, 12, 13, "x", "b"),  // a then b
  });
}

TEST(CheckerAccepts, TouchingIntervalsAreConcurrent) {
  // The read is called at the very instant the write returns: they are concurrent.
  ExpectLinearizable({
      PutOp(1, 0, 5, "x", "a"),
      PutOp(1, 5, 9, "x", "b"),
      GetOp(2, 9, 12, "x", "a"),
  });
}

TEST(CheckerAccepts, IndeterminateWriteThatTookEffect) {
  ExpectLinearizable({
      PutOp(1, 0, 1, "x", "a"),
      PutOp(2, 2, kNoReturn, "x", "b"),
      GetOp(3, 100, 101, "x", "b"),
  });
}

TEST(CheckerAccepts, IndeterminateWriteThatNeverTookEffect) {
  ExpectLinearizable({
      PutOp(1, 0, 1, "x", "a"),
      PutOp(2, 2, kNoReturn, "x", "b"),
      GetOp(3, 100, 101, "x", "a"),
      GetOp(3, 102, 103, "x", "a"),
  });
}

TEST(CheckerAccepts, IndeterminateWriteTakingEffectLongAfterItsCall) {
  // Seen late, after other writes completed: the lost answer does not bound its instant.
  ExpectLinearizable({
      PutOp(2, 0, kNoReturn, "x", "late"),
      PutOp(1, 10, 11, "x", "a"),
      GetOp(1, 12, 13, "x", "a"),
      GetOp(1, 14, 15, "x", "late"),
  });
}

TEST(CheckerAccepts, IndeterminateCasEitherWay) {
  ExpectLinearizable({
      PutOp(1, 0, 1, "x", "a"),
      CasOp(2, 2, kNoReturn, "x", "a", "b", std::nullopt),
      GetOp(3, 10, 11, "x", "b"),
  });
  ExpectLinearizable({
      PutOp(1, 0, 1, "x", "a"),
      CasOp(2, 2, kNoReturn, "x", "a", "b", std::nullopt),
      GetOp(3, 10, 11, "x", "a"),
  });
}

TEST(CheckerAccepts, IndeterminateReadsAreIgnored) {
  ExpectLinearizable({
      PutOp(1, 0, 1, "x", "a"),
      GetOp(2, 2, kNoReturn, "x", kAbsent),
      GetOp(3, 10, 11, "x", "a"),
  });
}

TEST(CheckerAccepts, CasChainAndFailedCas) {
  ExpectLinearizable({
      CasOp(1, 0, 1, "x", kAbsent, "a", true),  // create
      CasOp(1, 2, 3, "x", kAbsent, "z", false),
      CasOp(2, 4, 10, "x", "a", "b", true),
      CasOp(3, 5, 11, "x", "a", "c", false),  // lost the race to client 2
      GetOp(1, 12, 13, "x", "b"),
  });
}

TEST(CheckerAccepts, SeveralKeysEachWithItsOwnOrder) {
  ExpectLinearizable({
      PutOp(1, 0, 10, "x", "a"),
      PutOp(2, 0, 10, "y", "b"),
      GetOp(3, 1, 2, "x", "a"),
      GetOp(3, 3, 4, "y", kAbsent),
      GetOp(4, 5, 6, "y", "b"),
      GetOp(4, 7, 8, "x", "a"),
  });
}

// Rejections: each history below is impossible on any linearizable store.

TEST(CheckerRejects, StaleReadAfterCompletedWrite) {
  CheckResult r = ExpectViolation({
      PutOp(1, 0, 1, "x", "a"),
      PutOp(1, 2, 3, "x", "b"),
      GetOp(2, 4, 5, "x", "a"),
  });
  ASSERT_EQ(r.violations.size(), 1u);
  const KeyViolation& v = r.violations[0];
  EXPECT_EQ(v.key, "x");
  ASSERT_EQ(v.longest_prefix.size(), 2u);
  EXPECT_EQ(v.longest_prefix[0].index, 0u);
  EXPECT_EQ(v.longest_prefix[1].index, 1u);
  EXPECT_EQ(v.content_after_prefix, Value("b"));
  ASSERT_EQ(v.unplaced.size(), 1u);
  EXPECT_EQ(v.unplaced[0].op.index, 2u);
  EXPECT_EQ(v.unplaced[0].why, "read 'a' but the key holds 'b'");
  std::string report = r.Report();
  EXPECT_NE(report.find("key 'x' is not linearizable"), std::string::npos) << report;
  EXPECT_NE(report.find("#2  2 4 5 get x : a"), std::string::npos) << report;
}

TEST(CheckerRejects, LostWrite) {
  // An acknowledged write vanishes: later reads see the value before it.
  ExpectViolation({
      PutOp(1, 0, 1, "x", "a"),
      GetOp(2, 2, 3, "x", "a"),
      PutOp(1, 4, 5, "x", "b"),
      GetOp(2, 6, 7, "x", "b"),
      GetOp(3, 8, 9, "x", "a"),
  });
}

TEST(CheckerRejects, AcknowledgedWriteNeverSeen) {
  ExpectViolation({
      PutOp(1, 0, 1, "x", "a"),
      GetOp(2, 2, 3, "x", kAbsent),
  });
}

TEST(CheckerRejects, CasSucceedingTwiceFromTheSameExpectedValue) {
  ExpectViolation({
      PutOp(1, 0, 1, "x", "a"),
      CasOp(2, 2, 10, "x", "a", "b", true),
      CasOp(3, 3, 11, "x", "a", "c", true),
  });
}

TEST(CheckerRejects, CasFailingAlthoughItMustHaveMatched) {
  ExpectViolation({
      PutOp(1, 0, 1, "x", "a"),
      CasOp(2, 2, 3, "x", "a", "b", false),
  });
}

TEST(CheckerRejects, ReadOfAValueNeverWritten) {
  ExpectViolation({
      PutOp(1, 0, 10, "x", "a"),
      GetOp(2, 1, 2, "x", "phantom"),
  });
}

TEST(CheckerRejects, ReadOfAValueFromTheFuture) {
  // The value is read before its write was even called.
  ExpectViolation({
      GetOp(2, 0, 1, "x", "a"),
      PutOp(1, 2, 3, "x", "a"),
  });
}

TEST(CheckerRejects, NonMonotonicReadsBySequentialClient) {
  // The write of b overlaps both reads, but one client saw b and then, later, a again.
  ExpectViolation({
      PutOp(1, 0, 1, "x", "a"),
      PutOp(1, 2, 20, "x", "b"),
      GetOp(2, 3, 4, "x", "b"),
      GetOp(2, 5, 6, "x", "a"),
  });
}

TEST(CheckerRejects, ReadsOfDifferentClientsOrderedInRealTime) {
  // Client 2's read returned b before client 3's read began, yet client 3 saw a.
  ExpectViolation({
      PutOp(1, 0, 1, "x", "a"),
      PutOp(1, 2, 20, "x", "b"),
      GetOp(2, 3, 4, "x", "b"),
      GetOp(3, 5, 6, "x", "a"),
  });
}

TEST(CheckerRejects, DeleteReportingWrongExistence) {
  ExpectViolation({
      PutOp(1, 0, 1, "x", "a"),
      DeleteOp(2, 2, 3, "x", false),
  });
}

TEST(CheckerRejects, IndeterminateWriteCannotExplainAReadBeforeItsCall) {
  ExpectViolation({
      GetOp(2, 0, 1, "x", "b"),
      PutOp(1, 2, kNoReturn, "x", "b"),
  });
}

TEST(CheckerRejects, OnlyTheBrokenKeyIsReported) {
  CheckResult r = ExpectViolation({
      PutOp(1, 0, 1, "good", "a"),
      GetOp(2, 2, 3, "good", "a"),
      PutOp(1, 4, 5, "bad", "a"),
      GetOp(2, 6, 7, "bad", kAbsent),
  });
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.violations[0].key, "bad");
  EXPECT_EQ(r.keys, 2u);
}

TEST(Checker, BudgetExhaustedIsUnknownNotAViolation) {
  // Many overlapping writes and a read nothing can explain: proving it impossible takes more
  // than the tiny budget allows.
  std::vector<Operation> h;
  for (int i = 0; i < 12; ++i) h.push_back(PutOp(i, 0, 100, "x", "v" + std::to_string(i)));
  h.push_back(GetOp(99, 101, 102, "x", "never"));
  CheckOptions tiny;
  tiny.max_steps_per_key = 50;
  CheckResult r = Check(h, tiny);
  EXPECT_EQ(r.verdict, Verdict::kUnknown) << r.Report();
  EXPECT_EQ(r.unknown_keys, std::vector<std::string>{"x"});
  EXPECT_TRUE(r.violations.empty());
  // With the default budget the same history is proved not linearizable.
  EXPECT_EQ(Check(h).verdict, Verdict::kNotLinearizable);
}

TEST(Checker, InvalidOperationIsAnError) {
  Operation bad = PutOp(1, 5, 4, "x", "a");  // returns before it was called
  absl::StatusOr<CheckResult> r = CheckHistory({bad});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Checker, ManyConcurrentIndeterminateWritesStayTractable) {
  // 40 writes whose answers were lost, interleaved with reads of some of them: memoization keeps
  // this well inside the budget.
  std::vector<Operation> h;
  Time t = 0;
  for (int i = 0; i < 40; ++i) {
    h.push_back(PutOp(100 + i, t, kNoReturn, "x", "w" + std::to_string(i)));
    t += 2;
    if (i % 4 == 3) {
      h.push_back(GetOp(1, t, t + 1, "x", "w" + std::to_string(i)));
      t += 2;
    }
  }
  CheckResult r = Check(h);
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.Report();
  EXPECT_LT(r.steps, 1'000'000u);
}

TEST(Checker, ManyUnobservedIndeterminateWritesWithFailedCasStayTractable) {
  // 30 writes whose answers were lost, none of whose values anyone read, interleaved with
  // failed compare-and-swaps (which such a write could explain) and reads of acknowledged
  // writes: without the placeholder for unobserved values and the symmetry between the lost
  // writes this takes 2^30 subsets.
  std::vector<Operation> h;
  Time t = 0;
  for (int i = 0; i < 30; ++i) {
    h.push_back(PutOp(100 + i, t, kNoReturn, "x", "lost" + std::to_string(i)));
    h.push_back(CasOp(1, t + 1, t + 2, "x", "never", "z", false));
    t += 3;
  }
  h.push_back(PutOp(2, t, t + 1, "x", "final"));
  h.push_back(GetOp(3, t + 2, t + 3, "x", "final"));
  CheckResult r = Check(h);
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.Report();
  EXPECT_LT(r.steps, 100'000u);
  // And a read nobody could have caused is still caught among them.
  h.push_back(GetOp(3, t + 4, t + 5, "x", "phantom"));
  EXPECT_EQ(Check(h).verdict, Verdict::kNotLinearizable);
}

TEST(Checker, UnobservedValueIsStillAValue) {
  // A lost write whose value nobody read can still be what made a delete find the key.
  ExpectLinearizable({
      PutOp(1, 0, kNoReturn, "x", "unseen"),
      DeleteOp(2, 5, 6, "x", true),
  });
  // But not a read of absent after a completed unobserved write.
  ExpectViolation({
      PutOp(1, 0, 1, "x", "unseen"),
      GetOp(2, 5, 6, "x", kAbsent),
  });
  // Two different unobserved values are never confused with an observed one.
  CheckResult r = ExpectViolation({
      PutOp(1, 0, 1, "x", "a"),
      PutOp(1, 2, 3, "x", "b"),
      CasOp(2, 4, 5, "x", "seen", "c", true),
  });
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.violations[0].content_after_prefix, Value("b"));  // the real value is reported
}

}  // namespace
}  // namespace kvd::linearizability
