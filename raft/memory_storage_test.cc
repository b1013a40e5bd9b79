#include "raft/memory_storage.h"

#include <vector>

#include "gtest/gtest.h"
#include "raft/errors.h"

namespace kvd::raft {
namespace {

Entry E(Index i, Term t, std::string data = "") {
  return Entry{.term = t, .index = i, .type = EntryType::kNormal, .data = std::move(data)};
}

std::vector<Index> Indexes(const std::vector<Entry>& es) {
  std::vector<Index> out;
  for (const Entry& e : es) out.push_back(e.index);
  return out;
}

Snapshot Snap(Index i, Term t, ConfState cs = {}) {
  return Snapshot{.metadata = {.conf_state = std::move(cs), .index = i, .term = t}, .data = ""};
}

TEST(MemoryStorage, NewLogIsEmptyWithBootstrapMembership) {
  MemoryStorage s(ConfState{.voters = {1, 2, 3}, .learners = {}});
  EXPECT_EQ(s.FirstIndex(), 1u);
  EXPECT_EQ(s.LastIndex(), 0u);
  EXPECT_EQ(*s.GetTerm(0), 0u);
  EXPECT_TRUE(raft::IsUnavailable(s.GetTerm(1).status()));
  EXPECT_EQ(s.GetInitialState().conf_state.voters, (std::vector<NodeId>{1, 2, 3}));
  EXPECT_TRUE(s.GetInitialState().hard_state.IsEmpty());
  EXPECT_TRUE(s.GetSnapshot()->IsEmpty());
}

TEST(MemoryStorage, AppendTruncatesConflictingSuffix) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append({E(1, 1), E(2, 1), E(3, 1)}).ok());
  ASSERT_TRUE(s.Append({E(2, 2), E(3, 2), E(4, 2)}).ok());
  EXPECT_EQ(s.LastIndex(), 4u);
  EXPECT_EQ(*s.GetTerm(1), 1u);
  EXPECT_EQ(*s.GetTerm(2), 2u);
  // Appending a shorter run in the middle drops everything after it.
  ASSERT_TRUE(s.Append({E(2, 3)}).ok());
  EXPECT_EQ(s.LastIndex(), 2u);
  EXPECT_EQ(*s.GetTerm(2), 3u);
}

TEST(MemoryStorage, AppendRejectsGapsAndNonConsecutiveEntries) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append({E(1, 1)}).ok());
  EXPECT_EQ(s.Append({E(3, 1)}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.Append({E(2, 1), E(4, 1)}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.LastIndex(), 1u);
}

TEST(MemoryStorage, EntriesHonoursBoundsAndByteLimit) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append({E(1, 1, "aaaa"), E(2, 1, "bbbb"), E(3, 1, "cccc"), E(4, 1, "dd")}).ok());
  EXPECT_EQ(Indexes(*s.Entries(1, 5, 1000)), (std::vector<Index>{1, 2, 3, 4}));
  EXPECT_EQ(Indexes(*s.Entries(1, 5, 8)), (std::vector<Index>{1, 2}));
  EXPECT_EQ(Indexes(*s.Entries(1, 5, 9)), (std::vector<Index>{1, 2}));
  // At least one entry even when it alone exceeds the limit.
  EXPECT_EQ(Indexes(*s.Entries(2, 5, 0)), (std::vector<Index>{2}));
  EXPECT_TRUE(s.Entries(3, 3, 10)->empty());
  EXPECT_TRUE(raft::IsUnavailable(s.Entries(1, 6, 100).status()));
}

TEST(MemoryStorage, CompactKeepsTermOfLastCompactedEntry) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append({E(1, 1), E(2, 2), E(3, 3), E(4, 3)}).ok());
  ASSERT_TRUE(s.CreateSnapshot(3, ConfState{.voters = {1}, .learners = {}}, "img").ok());
  ASSERT_TRUE(s.Compact(2).ok());
  EXPECT_EQ(s.FirstIndex(), 3u);
  EXPECT_EQ(*s.GetTerm(2), 2u);
  EXPECT_TRUE(IsCompacted(s.GetTerm(1).status()));
  EXPECT_TRUE(IsCompacted(s.Entries(2, 4, 100).status()));
  EXPECT_EQ(Indexes(*s.Entries(3, 5, 100)), (std::vector<Index>{3, 4}));
  EXPECT_TRUE(IsCompacted(s.Compact(2)));
  EXPECT_TRUE(raft::IsUnavailable(s.Compact(5)));
}

TEST(MemoryStorage, CompactMayNotPassTheSnapshot) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append({E(1, 1), E(2, 1), E(3, 1)}).ok());
  EXPECT_EQ(s.Compact(2).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(s.CreateSnapshot(2, {}, "").ok());
  EXPECT_TRUE(s.Compact(2).ok());
}

TEST(MemoryStorage, CreateSnapshotRecordsTermAndMembership) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append({E(1, 1), E(2, 2)}).ok());
  ConfState cs{.voters = {1, 2}, .learners = {3}};
  absl::StatusOr<Snapshot> snap = s.CreateSnapshot(2, cs, "state");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->metadata.index, 2u);
  EXPECT_EQ(snap->metadata.term, 2u);
  EXPECT_EQ(snap->data, "state");
  EXPECT_EQ(*s.GetSnapshot(), *snap);
  EXPECT_EQ(s.GetInitialState().conf_state, cs);
  EXPECT_EQ(s.CreateSnapshot(2, cs, "").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(raft::IsUnavailable(s.CreateSnapshot(3, cs, "").status()));
}

TEST(MemoryStorage, ApplySnapshotReplacesWholeLog) {
  MemoryStorage s;
  ASSERT_TRUE(s.Append({E(1, 1), E(2, 1), E(3, 1), E(4, 1)}).ok());
  ASSERT_TRUE(s.ApplySnapshot(Snap(3, 2, ConfState{.voters = {1, 2}, .learners = {}})).ok());
  EXPECT_EQ(s.FirstIndex(), 4u);
  EXPECT_EQ(s.LastIndex(), 3u);
  EXPECT_EQ(*s.GetTerm(3), 2u);
  EXPECT_EQ(s.GetInitialState().conf_state.voters, (std::vector<NodeId>{1, 2}));
  // Older or equal snapshots are refused.
  EXPECT_EQ(s.ApplySnapshot(Snap(3, 2)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.ApplySnapshot(Snapshot{}).code(), absl::StatusCode::kFailedPrecondition);
  // Appending right after the snapshot continues the log; entries below it are skipped.
  ASSERT_TRUE(s.Append({E(3, 2), E(4, 2), E(5, 2)}).ok());
  EXPECT_EQ(s.FirstIndex(), 4u);
  EXPECT_EQ(s.LastIndex(), 5u);
}

TEST(MemoryStorage, HardStateRoundTrips) {
  MemoryStorage s;
  s.SetHardState(HardState{.term = 3, .vote = 2, .commit = 7});
  EXPECT_EQ(s.GetInitialState().hard_state, (HardState{.term = 3, .vote = 2, .commit = 7}));
}

}  // namespace
}  // namespace kvd::raft
