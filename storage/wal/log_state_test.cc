// The rules of the log as LogState applies them, including the cases only recovery meets: a
// WAL read from a segment whose predecessors were removed.
#include "storage/wal/log_state.h"

#include "gtest/gtest.h"
#include "storage/wal/wal_workload.h"

namespace kvd::wal {
namespace {

using testing::MakeEntries;

BatchContent Start(raft::Index first) {
  BatchContent b;
  b.segment_start = first;
  return b;
}

BatchContent Entries(const std::vector<raft::Entry>& e) {
  BatchContent b;
  b.entries = e;
  return b;
}

BatchContent Hard(raft::Term term, raft::NodeId vote, raft::Index commit) {
  BatchContent b;
  b.hard_state = raft::HardState{.term = term, .vote = vote, .commit = commit};
  return b;
}

BatchContent Snapshot(SnapshotKind kind, raft::Index index, raft::Term term) {
  BatchContent b;
  b.snapshot =
      SnapshotRecord{.kind = kind, .metadata = {.conf_state = {}, .index = index, .term = term}};
  return b;
}

void MustApply(LogState& s, const BatchContent& b) {
  const absl::Status st = s.Check(b);
  ASSERT_TRUE(st.ok()) << st;
  s.Apply(b);
}

TEST(LogStateTest, NothingComesBeforeASegmentStart) {
  LogState s;
  EXPECT_FALSE(s.Check(Hard(1, 0, 0)).ok());
  MustApply(s, Start(1));
  EXPECT_EQ(s.first_index(), 1u);
  EXPECT_EQ(s.last_index(), 0u);
  EXPECT_TRUE(s.connected());
}

TEST(LogStateTest, EntriesAppendReplaceAndNeverLeaveGaps) {
  LogState s;
  MustApply(s, Start(1));
  const auto e = MakeEntries(1, 10, 1);
  MustApply(s, Entries(e));
  EXPECT_EQ(s.last_index(), 10u);
  const auto gap = MakeEntries(12, 1, 1);
  EXPECT_FALSE(s.Check(Entries(gap)).ok());
  const auto replace = MakeEntries(4, 2, 2);
  MustApply(s, Entries(replace));
  EXPECT_EQ(s.last_index(), 5u);
  EXPECT_EQ(s.TermAt(3), 1u);
  EXPECT_EQ(s.TermAt(4), 2u);
  EXPECT_FALSE(s.TermAt(6).has_value());
}

TEST(LogStateTest, SegmentStartMustFollowTheLastIndex) {
  LogState s;
  MustApply(s, Start(1));
  const auto e = MakeEntries(1, 5, 1);
  MustApply(s, Entries(e));
  EXPECT_FALSE(s.Check(Start(5)).ok());
  EXPECT_FALSE(s.Check(Start(7)).ok());
  MustApply(s, Start(6));
}

// Reading from a segment whose predecessors were removed: the log starts at the segment's first
// index, a replacement may reach below it, and a later snapshot must cover the gap.
TEST(LogStateTest, ReadingFromALaterSegmentRebasesAndNeedsASnapshotToConnect) {
  LogState s;
  MustApply(s, Start(100));
  MustApply(s, Hard(3, 1, 99));
  EXPECT_FALSE(s.connected());
  const auto tail = MakeEntries(100, 10, 3);
  MustApply(s, Entries(tail));
  const auto lower = MakeEntries(95, 3, 4);  // replaces 95.. which this segment never held
  EXPECT_FALSE(s.Check(Entries(lower)).ok()) << "95 is committed";
  LogState t;
  MustApply(t, Start(100));
  MustApply(t, Hard(3, 1, 90));
  MustApply(t, Entries(tail));
  MustApply(t, Entries(lower));
  EXPECT_EQ(t.first_index(), 95u);
  EXPECT_EQ(t.last_index(), 97u);
  EXPECT_FALSE(t.connected());
  MustApply(t, Hard(4, 1, 96));
  MustApply(t, Snapshot(SnapshotKind::kCompaction, 94, 3));
  EXPECT_TRUE(t.connected());
  EXPECT_EQ(t.first_index(), 95u);
}

TEST(LogStateTest, CompactionDropsCoveredEntriesAndChecksTheTerm) {
  LogState s;
  MustApply(s, Start(1));
  const auto e = MakeEntries(1, 10, 2);
  MustApply(s, Entries(e));
  MustApply(s, Hard(2, 1, 8));
  EXPECT_FALSE(s.Check(Snapshot(SnapshotKind::kCompaction, 5, 1)).ok()) << "wrong term";
  EXPECT_FALSE(s.Check(Snapshot(SnapshotKind::kCompaction, 9, 2)).ok()) << "not committed";
  MustApply(s, Snapshot(SnapshotKind::kCompaction, 5, 2));
  EXPECT_EQ(s.first_index(), 6u);
  EXPECT_EQ(s.last_index(), 10u);
  EXPECT_EQ(s.TermAt(5), 2u);
  EXPECT_FALSE(s.Check(Snapshot(SnapshotKind::kCompaction, 4, 2)).ok()) << "older";
  EXPECT_TRUE(s.Check(Snapshot(SnapshotKind::kCompaction, 5, 2)).ok()) << "same again";
  const auto under = MakeEntries(5, 1, 3);
  EXPECT_FALSE(s.Check(Entries(under)).ok()) << "below the snapshot";
}

TEST(LogStateTest, InstallReplacesEverything) {
  LogState s;
  MustApply(s, Start(1));
  const auto e = MakeEntries(1, 10, 2);
  MustApply(s, Entries(e));
  MustApply(s, Snapshot(SnapshotKind::kInstall, 50, 4));
  EXPECT_EQ(s.first_index(), 51u);
  EXPECT_EQ(s.last_index(), 50u);
  EXPECT_TRUE(s.connected());
  EXPECT_FALSE(s.Check(Snapshot(SnapshotKind::kInstall, 50, 4)).ok()) << "not newer";
  const auto next = MakeEntries(51, 1, 3);
  EXPECT_FALSE(s.Check(Entries(next)).ok()) << "term below the snapshot's";
}

TEST(LogStateTest, HardStateNeverGoesBack) {
  LogState s;
  MustApply(s, Start(1));
  const auto e = MakeEntries(1, 10, 1);
  MustApply(s, Entries(e));
  MustApply(s, Hard(5, 2, 4));
  EXPECT_FALSE(s.Check(Hard(4, 2, 4)).ok()) << "term back";
  EXPECT_FALSE(s.Check(Hard(5, 3, 4)).ok()) << "second vote in a term";
  EXPECT_FALSE(s.Check(Hard(5, 0, 4)).ok()) << "vote withdrawn";
  EXPECT_FALSE(s.Check(Hard(5, 2, 3)).ok()) << "commit back";
  EXPECT_FALSE(s.Check(Hard(5, 2, 11)).ok()) << "commit beyond the log";
  MustApply(s, Hard(6, 3, 10));
  MustApply(s, Hard(6, 3, 10));
}

}  // namespace
}  // namespace kvd::wal
