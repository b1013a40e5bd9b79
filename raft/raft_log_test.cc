// RaftLog and UnstableLog: the joined stable/unstable log, term lookups, conflict finding, commit
// and apply positions.
#include "raft/raft_log.h"

#include <vector>

#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/memory_storage.h"
#include "raft/unstable_log.h"

namespace kvd::raft {
namespace {

Entry E(Index i, Term t, std::string data = "") {
  return Entry{.term = t, .index = i, .type = EntryType::kNormal, .data = std::move(data)};
}

std::vector<Entry> Es(std::initializer_list<std::pair<Index, Term>> it) {
  std::vector<Entry> out;
  for (auto [i, t] : it) out.push_back(E(i, t));
  return out;
}

std::vector<std::pair<Index, Term>> IT(const std::vector<Entry>& es) {
  std::vector<std::pair<Index, Term>> out;
  for (const Entry& e : es) out.emplace_back(e.index, e.term);
  return out;
}

constexpr uint64_t kNoLimit = UINT64_MAX;

TEST(RaftLog, EmptyLogStartsAtStorage) {
  MemoryStorage s;
  RaftLog log(&s, kNoLimit);
  EXPECT_EQ(log.FirstIndex(), 1u);
  EXPECT_EQ(log.LastIndex(), 0u);
  EXPECT_EQ(log.LastTerm(), 0u);
  EXPECT_EQ(log.committed(), 0u);
  EXPECT_EQ(log.PersistedLastIndex(), 0u);
}

TEST(RaftLog, AppendedEntriesAreUnstableUntilStableTo) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Es({{1, 1}, {2, 1}})).ok());
  RaftLog log(&s, kNoLimit);
  EXPECT_EQ(log.PersistedLastIndex(), 2u);
  EXPECT_EQ(log.Append(Es({{3, 2}, {4, 2}})), 4u);
  EXPECT_EQ(IT(log.UnstableEntries()), IT(Es({{3, 2}, {4, 2}})));
  EXPECT_EQ(log.PersistedLastIndex(), 2u);
  ASSERT_TRUE(s.Append(Es({{3, 2}, {4, 2}})).ok());
  log.StableTo(4, 2);
  EXPECT_TRUE(log.UnstableEntries().empty());
  EXPECT_EQ(log.PersistedLastIndex(), 4u);
}

TEST(RaftLog, StableToIgnoresEntriesReplacedMeanwhile) {
  MemoryStorage s;
  RaftLog log(&s, kNoLimit);
  log.Append(Es({{1, 1}, {2, 1}}));
  // Handed out (1/1, 2/1); before they are acknowledged a new leader replaces index 2.
  log.Append(Es({{2, 2}}));
  log.StableTo(2, 1);
  EXPECT_EQ(log.PersistedLastIndex(), 0u);
  EXPECT_EQ(IT(log.UnstableEntries()), IT(Es({{1, 1}, {2, 2}})));
}

TEST(RaftLog, TermAtCoversSnapshotIndexAndReportsOutOfRange) {
  MemoryStorage s;
  ASSERT_TRUE(s.ApplySnapshot(Snapshot{.metadata = {.index = 5, .term = 3}}).ok());
  ASSERT_TRUE(s.Append(Es({{6, 3}, {7, 4}})).ok());
  RaftLog log(&s, kNoLimit);
  log.Append(Es({{8, 4}}));
  EXPECT_EQ(*log.TermAt(5), 3u);
  EXPECT_EQ(*log.TermAt(7), 4u);
  EXPECT_EQ(*log.TermAt(8), 4u);
  EXPECT_TRUE(IsCompacted(log.TermAt(4).status()));
  EXPECT_TRUE(raft::IsUnavailable(log.TermAt(9).status()));
  EXPECT_EQ(log.TermOrZero(9), 0u);
  EXPECT_TRUE(log.MatchTerm(7, 4));
  EXPECT_FALSE(log.MatchTerm(7, 3));
}

TEST(RaftLog, IsUpToDateComparesLastTermThenLength) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Es({{1, 1}, {2, 2}, {3, 2}})).ok());
  RaftLog log(&s, kNoLimit);
  EXPECT_TRUE(log.IsUpToDate(1, 3));   // later last term, even if shorter
  EXPECT_TRUE(log.IsUpToDate(3, 2));   // same last term, same length
  EXPECT_TRUE(log.IsUpToDate(4, 2));   // same last term, longer
  EXPECT_FALSE(log.IsUpToDate(2, 2));  // same last term, shorter
  EXPECT_FALSE(log.IsUpToDate(9, 1));  // older last term, however long
}

TEST(RaftLog, FindConflictReturnsFirstMismatchOrZero) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Es({{1, 1}, {2, 2}, {3, 3}})).ok());
  RaftLog log(&s, kNoLimit);
  EXPECT_EQ(log.FindConflict({}), 0u);
  EXPECT_EQ(log.FindConflict(Es({{1, 1}, {2, 2}, {3, 3}})), 0u);
  EXPECT_EQ(log.FindConflict(Es({{2, 2}, {3, 3}, {4, 4}})), 4u);  // new entries
  EXPECT_EQ(log.FindConflict(Es({{2, 2}, {3, 4}})), 3u);          // term mismatch
  EXPECT_EQ(log.FindConflict(Es({{1, 4}})), 1u);
}

TEST(RaftLog, FindConflictByTermSkipsWholeTerms) {
  // Terms by index: 1:1 2:1 3:3 4:3 5:3 6:5 7:5
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Es({{1, 1}, {2, 1}, {3, 3}, {4, 3}, {5, 3}, {6, 5}, {7, 5}})).ok());
  RaftLog log(&s, kNoLimit);
  struct Case {
    Index index;
    Term term;
    std::pair<Index, Term> want;
  } cases[] = {
      {7, 5, {7, 5}},                  // matches already
      {7, 4, {5, 3}},                  // all of term 5 skipped
      {7, 3, {5, 3}}, {7, 2, {2, 1}},  // terms 5 and 3 skipped
      {7, 0, {0, 0}}, {4, 2, {2, 1}}, {2, 9, {2, 1}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(log.FindConflictByTerm(c.index, c.term), c.want) << c.index << "/" << c.term;
  }
}

TEST(RaftLog, FindConflictByTermStopsAtCompactedPrefix) {
  MemoryStorage s;
  ASSERT_TRUE(s.ApplySnapshot(Snapshot{.metadata = {.index = 3, .term = 2}}).ok());
  ASSERT_TRUE(s.Append(Es({{4, 4}, {5, 4}})).ok());
  RaftLog log(&s, kNoLimit);
  EXPECT_EQ(log.FindConflictByTerm(5, 3), (std::pair<Index, Term>{3, 2}));
  EXPECT_EQ(log.FindConflictByTerm(5, 1), (std::pair<Index, Term>{2, 0}));
}

TEST(RaftLog, MaybeAppendChecksPreviousEntryAndTruncatesConflicts) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Es({{1, 1}, {2, 2}, {3, 2}})).ok());
  RaftLog log(&s, kNoLimit);
  // Previous entry mismatch: nothing changes.
  EXPECT_FALSE(log.MaybeAppend(3, 3, 3, Es({{4, 3}})).has_value());
  EXPECT_FALSE(log.MaybeAppend(4, 2, 3, Es({{5, 3}})).has_value());
  EXPECT_EQ(log.LastIndex(), 3u);
  EXPECT_EQ(log.committed(), 0u);
  // Matching previous entry, conflicting entry at 3: replaced, suffix dropped.
  EXPECT_EQ(log.MaybeAppend(2, 2, 3, Es({{3, 3}, {4, 3}})), std::optional<Index>(4));
  EXPECT_EQ(*log.TermAt(3), 3u);
  EXPECT_EQ(log.LastIndex(), 4u);
  EXPECT_EQ(log.committed(), 3u);
  // Entries already present are not re-appended; commit stops at the last new entry.
  EXPECT_EQ(log.MaybeAppend(1, 1, 10, Es({{2, 2}})), std::optional<Index>(2));
  EXPECT_EQ(log.LastIndex(), 4u);  // the matching suffix after the message survives
  EXPECT_EQ(log.committed(), 3u);
  EXPECT_EQ(log.MaybeAppend(4, 3, 10, {}), std::optional<Index>(4));
  EXPECT_EQ(log.committed(), 4u);
}

TEST(RaftLogDeathTest, ConflictWithCommittedEntryCrashes) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Es({{1, 1}, {2, 1}})).ok());
  RaftLog log(&s, kNoLimit);
  log.CommitTo(2);
  EXPECT_DEATH(log.MaybeAppend(1, 1, 2, Es({{2, 2}})), "conflicts with committed entry");
}

TEST(RaftLog, MaybeCommitOnlyForEntriesOfTheGivenTerm) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Es({{1, 1}, {2, 2}, {3, 3}})).ok());
  RaftLog log(&s, kNoLimit);
  EXPECT_FALSE(log.MaybeCommit(2, 3));  // entry 2 is of term 2
  EXPECT_EQ(log.committed(), 0u);
  EXPECT_TRUE(log.MaybeCommit(3, 3));
  EXPECT_EQ(log.committed(), 3u);
  EXPECT_FALSE(log.MaybeCommit(2, 2));  // never backwards
  EXPECT_EQ(log.committed(), 3u);
}

TEST(RaftLog, NextCommittedEntriesAreDurableAndSizeLimited) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append({E(1, 1, "aa"), E(2, 1, "bb"), E(3, 1, "cc")}).ok());
  RaftLog log(&s, 3);
  log.Append({E(4, 1, "dd")});
  log.CommitTo(4);
  // Entry 4 is committed but not durable here: not handed out. The byte limit keeps one entry.
  EXPECT_EQ(IT(log.NextCommittedEntries()), IT(Es({{1, 1}})));
  log.AcceptApplying(1);
  EXPECT_EQ(IT(log.NextCommittedEntries()), IT(Es({{2, 1}})));
  log.AcceptApplying(3);
  EXPECT_FALSE(log.HasNextCommittedEntries());
  ASSERT_TRUE(s.Append({E(4, 1, "dd")}).ok());
  log.StableTo(4, 1);
  EXPECT_EQ(IT(log.NextCommittedEntries()), IT(Es({{4, 1}})));
}

TEST(RaftLog, SliceSpansStorageAndUnstableAndHonoursLimit) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append({E(1, 1, "aa"), E(2, 1, "bb")}).ok());
  RaftLog log(&s, kNoLimit);
  log.Append({E(3, 2, "cc"), E(4, 2, "dd")});
  EXPECT_EQ(IT(*log.Slice(1, 5, kNoLimit)), IT(Es({{1, 1}, {2, 1}, {3, 2}, {4, 2}})));
  EXPECT_EQ(IT(*log.Slice(2, 4, kNoLimit)), IT(Es({{2, 1}, {3, 2}})));
  EXPECT_EQ(IT(*log.Slice(1, 5, 5)), IT(Es({{1, 1}, {2, 1}})));
  EXPECT_EQ(IT(*log.Slice(2, 5, 4)), IT(Es({{2, 1}, {3, 2}})));
  EXPECT_EQ(IT(*log.EntriesFrom(5, kNoLimit)), IT({}));
}

TEST(RaftLog, RestoreReplacesLogWithSnapshot) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append(Es({{1, 1}, {2, 1}})).ok());
  RaftLog log(&s, kNoLimit);
  log.Append(Es({{3, 1}}));
  log.Restore(Snapshot{.metadata = {.index = 10, .term = 4}});
  EXPECT_EQ(log.FirstIndex(), 11u);
  EXPECT_EQ(log.LastIndex(), 10u);
  EXPECT_EQ(log.LastTerm(), 4u);
  EXPECT_EQ(log.committed(), 10u);
  EXPECT_TRUE(log.UnstableEntries().empty());
  ASSERT_TRUE(log.UnstableSnapshot().has_value());
  EXPECT_FALSE(log.HasNextCommittedEntries());
  ASSERT_TRUE(s.ApplySnapshot(*log.UnstableSnapshot()).ok());
  log.StableSnapTo(10);
  EXPECT_EQ(log.applied(), 10u);
  EXPECT_EQ(log.FirstIndex(), 11u);
}

TEST(UnstableLog, TruncateAndAppendCases) {
  UnstableLog u(5);
  u.TruncateAndAppend(Es({{5, 1}, {6, 1}}));
  u.TruncateAndAppend(Es({{7, 1}}));  // plain append
  EXPECT_EQ(IT(u.entries()), IT(Es({{5, 1}, {6, 1}, {7, 1}})));
  u.TruncateAndAppend(Es({{6, 2}}));  // replace a suffix
  EXPECT_EQ(IT(u.entries()), IT(Es({{5, 1}, {6, 2}})));
  u.TruncateAndAppend(Es({{4, 3}}));  // before the offset: replaces everything
  EXPECT_EQ(u.offset(), 4u);
  EXPECT_EQ(IT(u.entries()), IT(Es({{4, 3}})));
  EXPECT_EQ(u.MaybeLastIndex(), std::optional<Index>(4));
  EXPECT_EQ(u.MaybeTerm(4), std::optional<Term>(3));
  EXPECT_EQ(u.MaybeTerm(5), std::nullopt);
}

}  // namespace
}  // namespace kvd::raft
