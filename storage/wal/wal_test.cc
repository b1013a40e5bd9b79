// The WAL's contract on a real file system: what is saved reads back after reopening, through
// segment cuts, suffix truncation, snapshots and ReleaseTo; invalid batches are refused; one
// write and one fdatasync per Save.
#include "storage/wal/wal.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "gtest/gtest.h"
#include "storage/fs/fault_injecting_file_system.h"
#include "storage/fs/posix_file_system.h"
#include "storage/fs/scratch_dir.h"
#include "storage/wal/wal_format.h"
#include "storage/wal/wal_workload.h"

namespace kvd::wal {
namespace {

using testing::LogModel;
using testing::MakeEntries;

raft::HardState Hs(raft::Term term, raft::NodeId vote, raft::Index commit) {
  return raft::HardState{.term = term, .vote = vote, .commit = commit};
}

raft::SnapshotMetadata Snap(raft::Index index, raft::Term term) {
  return raft::SnapshotMetadata{
      .conf_state = {.voters = {1, 2, 3}, .learners = {}}, .index = index, .term = term};
}

class WalTest : public ::testing::Test {
 protected:
  WalTest() {
    options_.segment_bytes = 64 << 10;
    options_.prepare_segments_in_background = false;
  }

  std::string dir() const { return tmp_.Sub("wal"); }

  Wal& OpenWal() {
    wal_.reset();
    absl::StatusOr<Wal::Opened> opened = Wal::Open(&fs_, dir(), options_);
    EXPECT_TRUE(opened.ok()) << opened.status();
    if (!opened.ok()) std::abort();
    recovered_ = std::move(opened->log);
    wal_ = std::move(opened->wal);
    return *wal_;
  }

  // Saves and mirrors into model_.
  void Save(const raft::HardState* hs, const std::vector<raft::Entry>& entries,
            const raft::SnapshotMetadata* install = nullptr) {
    WalBatch b;
    b.snapshot = install;
    b.entries = entries;
    b.hard_state = hs;
    ASSERT_TRUE(wal_->Save(b).ok());
    if (install != nullptr) {
      model_.snapshot = *install;
      model_.entries.clear();
    }
    if (!entries.empty()) {
      model_.entries.resize(entries.front().index - model_.snapshot.index - 1);
      model_.entries.insert(model_.entries.end(), entries.begin(), entries.end());
    }
    if (hs != nullptr) model_.hard_state = *hs;
  }

  void SaveSnapshot(const raft::SnapshotMetadata& s) {
    ASSERT_TRUE(wal_->SaveSnapshot(s).ok());
    model_.entries.erase(
        model_.entries.begin(),
        model_.entries.begin() + static_cast<ptrdiff_t>(s.index - model_.snapshot.index));
    model_.snapshot = s;
  }

  void ExpectReopenedAsModel() {
    OpenWal();
    EXPECT_EQ(testing::ModelOf(recovered_), model_)
        << "recovered: " << testing::Describe(testing::ModelOf(recovered_))
        << "\nexpected:  " << testing::Describe(model_);
    EXPECT_TRUE(recovered_.notices.empty()) << recovered_.notices.front();
    EXPECT_EQ(wal_->last_index(), model_.last_index());
    EXPECT_EQ(wal_->first_index(), model_.snapshot.index + 1);
  }

  std::vector<std::string> SegmentFiles() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir())) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::ScratchDir tmp_;
  fs::PosixFileSystem fs_;
  WalOptions options_;
  std::unique_ptr<Wal> wal_;
  RecoveredLog recovered_;
  LogModel model_;
};

TEST_F(WalTest, NewWalIsEmptyAndReadsBackWhatWasSaved) {
  OpenWal();
  EXPECT_EQ(testing::ModelOf(recovered_), LogModel{});
  EXPECT_EQ(wal_->first_index(), 1u);
  EXPECT_EQ(wal_->last_index(), 0u);
  EXPECT_EQ(SegmentFiles(), std::vector<std::string>{"0000000000000001.wal"});
  EXPECT_EQ(std::filesystem::file_size(tmp_.Sub("wal/0000000000000001.wal")),
            options_.segment_bytes);

  const raft::HardState hs = Hs(1, 1, 0);
  Save(&hs, MakeEntries(1, 10, 1));
  const raft::HardState hs2 = Hs(1, 1, 7);
  Save(&hs2, {});
  Save(nullptr, MakeEntries(11, 5, 1));
  EXPECT_EQ(wal_->last_index(), 15u);
  EXPECT_EQ(wal_->hard_state(), hs2);
  ExpectReopenedAsModel();
  ExpectReopenedAsModel();  // reading changes nothing
}

TEST_F(WalTest, ReopeningAnUnusedWalFindsItEmpty) {
  OpenWal();
  ASSERT_TRUE(wal_->Close().ok());
  ExpectReopenedAsModel();
  const raft::HardState hs = Hs(2, 0, 0);
  Save(&hs, {});
  ExpectReopenedAsModel();
}

TEST_F(WalTest, CutsSegmentsAtTheSizeLimitAndPreparesTheNext) {
  options_.segment_bytes = 16 << 10;
  OpenWal();
  for (raft::Index i = 1; i <= 400; i += 10) {
    const raft::HardState hs = Hs(1, 2, i - 1);
    Save(&hs, MakeEntries(i, 10, 1, 300));
  }
  const std::vector<uint64_t> seqs = wal_->SegmentSeqs();
  ASSERT_GE(seqs.size(), 5u);
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 1);
  // Every segment, plus the prepared next one, is on disk at the preallocated size.
  const std::vector<std::string> files = SegmentFiles();
  ASSERT_EQ(files.size(), seqs.size() + 1);
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(files[i], SegmentFileName(i + 1));
    EXPECT_EQ(std::filesystem::file_size(fs::JoinPath(dir(), files[i])), options_.segment_bytes);
  }
  ExpectReopenedAsModel();
  EXPECT_EQ(wal_->SegmentSeqs(), seqs);
  // Appending after reopening continues in the same segments.
  Save(nullptr, MakeEntries(401, 50, 1, 300));
  ExpectReopenedAsModel();
}

TEST_F(WalTest, CutsSegmentsWithTheBackgroundPreparer) {
  options_.segment_bytes = 8 << 10;
  options_.prepare_segments_in_background = true;
  OpenWal();
  for (raft::Index i = 1; i <= 600; i += 6) {
    const raft::HardState hs = Hs(1, 2, i - 1);
    Save(&hs, MakeEntries(i, 6, 1, 200));
  }
  EXPECT_GE(wal_->SegmentSeqs().size(), 10u);
  ASSERT_TRUE(wal_->Close().ok());
  ExpectReopenedAsModel();
}

TEST_F(WalTest, SuffixTruncationWithinASegment) {
  OpenWal();
  const raft::HardState hs = Hs(1, 1, 3);
  Save(&hs, MakeEntries(1, 10, 1));
  const raft::HardState hs2 = Hs(2, 2, 3);
  Save(&hs2, MakeEntries(6, 3, 2));
  EXPECT_EQ(wal_->last_index(), 8u);
  ExpectReopenedAsModel();
  ASSERT_EQ(recovered_.entries.size(), 8u);
  EXPECT_EQ(recovered_.entries[4], testing::MakeEntry(5, 1));
  EXPECT_EQ(recovered_.entries[5], testing::MakeEntry(6, 2));
  // Appending after a truncation continues from the new tail.
  Save(nullptr, MakeEntries(9, 4, 2));
  ExpectReopenedAsModel();
}

TEST_F(WalTest, SuffixTruncationAcrossASegmentBoundary) {
  options_.segment_bytes = 8 << 10;
  OpenWal();
  const raft::HardState hs = Hs(1, 1, 2);
  raft::Index next = 1;
  while (wal_->SegmentSeqs().size() < 4 && !HasFatalFailure()) {
    Save(&hs, MakeEntries(next, 5, 1, 400));
    next += 5;
  }
  // Truncate back to index 3, in the first segment, from the fourth.
  const raft::HardState hs2 = Hs(2, 3, 2);
  Save(&hs2, MakeEntries(3, 2, 2));
  EXPECT_EQ(wal_->last_index(), 4u);
  ExpectReopenedAsModel();
  ASSERT_EQ(recovered_.entries.size(), 4u);
  EXPECT_EQ(recovered_.entries.back(), testing::MakeEntry(4, 2));
  // The log grows again over the old indexes, into new segments.
  next = 5;
  while (wal_->SegmentSeqs().size() < 7 && !HasFatalFailure()) {
    Save(nullptr, MakeEntries(next, 5, 2, 400));
    next += 5;
  }
  ExpectReopenedAsModel();
}

TEST_F(WalTest, InstalledSnapshotReplacesTheLog) {
  OpenWal();
  const raft::HardState hs = Hs(1, 1, 5);
  Save(&hs, MakeEntries(1, 10, 1));
  const raft::SnapshotMetadata snap = Snap(20, 3);
  const raft::HardState hs2 = Hs(3, 0, 20);
  Save(&hs2, MakeEntries(21, 5, 3), &snap);
  EXPECT_EQ(wal_->first_index(), 21u);
  EXPECT_EQ(wal_->last_index(), 25u);
  ExpectReopenedAsModel();
  EXPECT_EQ(recovered_.snapshot, snap);
  // A snapshot installed below the log's end drops the entries after it too.
  const raft::SnapshotMetadata snap2 = Snap(23, 3);
  const raft::HardState hs3 = Hs(3, 0, 23);
  Save(&hs3, {}, &snap2);
  ExpectReopenedAsModel();
  EXPECT_TRUE(recovered_.entries.empty());
  EXPECT_EQ(recovered_.last_index(), 23u);
}

TEST_F(WalTest, SnapshotKeepsLaterEntriesAndReleaseToRemovesCoveredSegments) {
  options_.segment_bytes = 8 << 10;
  OpenWal();
  raft::Index next = 1;
  while (wal_->SegmentSeqs().size() < 6 && !HasFatalFailure()) {
    const raft::HardState hs = Hs(1, 1, next - 1);
    Save(&hs, MakeEntries(next, 5, 1, 400));
    next += 5;
  }
  const raft::Index commit = wal_->hard_state().commit;
  // Nothing is released without a snapshot, whatever index is asked for.
  ASSERT_TRUE(wal_->ReleaseTo(commit).ok());
  EXPECT_EQ(wal_->SegmentSeqs().size(), 6u);

  // A snapshot in the middle of the log: the segments wholly below it go, the one holding it
  // and everything after stay.
  const raft::Index s = commit / 2;
  SaveSnapshot(Snap(s, 1));
  const std::vector<uint64_t> before = wal_->SegmentSeqs();
  ASSERT_TRUE(wal_->ReleaseTo(s).ok());
  const std::vector<uint64_t> after = wal_->SegmentSeqs();
  EXPECT_LT(after.size(), before.size());
  EXPECT_EQ(after.back(), before.back());
  for (uint64_t seq = 1; seq < after.front(); ++seq) {
    EXPECT_FALSE(std::filesystem::exists(fs::JoinPath(dir(), SegmentFileName(seq)))) << seq;
  }
  ExpectReopenedAsModel();
  EXPECT_EQ(wal_->first_index(), s + 1);
  EXPECT_EQ(recovered_.entries.front().index, s + 1);
  EXPECT_EQ(wal_->SegmentSeqs(), after);

  // ReleaseTo below the snapshot releases only up to that index.
  SaveSnapshot(Snap(commit, 1));
  ASSERT_TRUE(wal_->ReleaseTo(s).ok());
  EXPECT_EQ(wal_->SegmentSeqs(), after);
  ASSERT_TRUE(wal_->ReleaseTo(commit).ok());
  EXPECT_LT(wal_->SegmentSeqs().size(), after.size());
  EXPECT_FALSE(wal_->SegmentSeqs().empty());
  ExpectReopenedAsModel();
}

TEST_F(WalTest, ReleaseToAfterTruncationAcrossSegmentsKeepsWhatIsNeeded) {
  options_.segment_bytes = 8 << 10;
  OpenWal();
  raft::Index next = 1;
  while (wal_->SegmentSeqs().size() < 3 && !HasFatalFailure()) {
    const raft::HardState hs = Hs(1, 1, std::min<raft::Index>(next - 1, 10));
    Save(&hs, MakeEntries(next, 5, 1, 400));
    next += 5;
  }
  // Truncate into the first segment, then grow into more segments.
  const raft::HardState hs2 = Hs(2, 1, 10);
  Save(&hs2, MakeEntries(12, 3, 2, 400));
  next = 15;
  while (wal_->SegmentSeqs().size() < 6 && !HasFatalFailure()) {
    const raft::HardState hs3 = Hs(2, 1, next - 1);
    Save(&hs3, MakeEntries(next, 5, 2, 400));
    next += 5;
  }
  // A snapshot just past the truncation point must keep entries 13.. readable.
  SaveSnapshot(Snap(12, 2));
  ASSERT_TRUE(wal_->ReleaseTo(12).ok());
  ExpectReopenedAsModel();
  EXPECT_EQ(recovered_.entries.front(), testing::MakeEntry(13, 2, 400));
}

TEST_F(WalTest, RefusesBatchesThatBreakTheLogsRulesAndStaysUsable) {
  OpenWal();
  const raft::HardState hs = Hs(3, 2, 5);
  Save(&hs, MakeEntries(1, 10, 2));
  SaveSnapshot(Snap(2, 2));

  auto refused = [&](const WalBatch& b) {
    const absl::Status s = wal_->Save(b);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(wal_->health().ok());
  };
  const std::vector<raft::Entry> gap = MakeEntries(12, 1, 3);
  refused({.snapshot = nullptr, .entries = gap, .hard_state = nullptr, .sync = true});
  const std::vector<raft::Entry> committed = MakeEntries(5, 1, 3);
  refused({.snapshot = nullptr, .entries = committed, .hard_state = nullptr, .sync = true});
  std::vector<raft::Entry> holes = MakeEntries(11, 3, 3);
  holes[1].index = 20;
  refused({.snapshot = nullptr, .entries = holes, .hard_state = nullptr, .sync = true});
  const std::vector<raft::Entry> older_term = MakeEntries(11, 1, 1);
  refused({.snapshot = nullptr, .entries = older_term, .hard_state = nullptr, .sync = true});
  for (const raft::HardState& bad : {Hs(2, 2, 5), Hs(3, 1, 5), Hs(3, 2, 4), Hs(3, 2, 11)}) {
    refused({.snapshot = nullptr, .entries = {}, .hard_state = &bad, .sync = true});
  }
  const raft::SnapshotMetadata old_snap = Snap(1, 2);
  refused({.snapshot = &old_snap, .entries = {}, .hard_state = nullptr, .sync = true});

  EXPECT_EQ(wal_->SaveSnapshot(Snap(1, 2)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(wal_->SaveSnapshot(Snap(7, 2)).code(), absl::StatusCode::kInvalidArgument)
      << "beyond the commit index";
  EXPECT_EQ(wal_->SaveSnapshot(Snap(4, 3)).code(), absl::StatusCode::kInvalidArgument)
      << "wrong term";
  EXPECT_EQ(wal_->SaveSnapshot(Snap(2, 9)).code(), absl::StatusCode::kInvalidArgument)
      << "contradicts the current snapshot";
  EXPECT_TRUE(wal_->SaveSnapshot(Snap(2, 2)).ok()) << "the same snapshot again is a no-op";

  // Still usable, and the refused batches left no trace.
  const raft::HardState hs2 = Hs(4, 0, 10);
  Save(&hs2, MakeEntries(11, 2, 4));
  ExpectReopenedAsModel();
}

TEST_F(WalTest, EmptySaveIsANoOp) {
  OpenWal();
  EXPECT_TRUE(wal_->Save(WalBatch{}).ok());
  ExpectReopenedAsModel();
}

TEST_F(WalTest, ABatchLargerThanASegmentGetsOneToItself) {
  options_.segment_bytes = 4 << 10;
  OpenWal();
  const raft::HardState hs = Hs(1, 1, 0);
  Save(&hs, MakeEntries(1, 3, 1, 100));
  Save(&hs, MakeEntries(4, 60, 1, 1000));  // ~30 KiB
  Save(&hs, MakeEntries(64, 3, 1, 100));
  EXPECT_EQ(wal_->SegmentSeqs().size(), 3u);
  ExpectReopenedAsModel();
}

TEST_F(WalTest, CallsAfterCloseFail) {
  OpenWal();
  ASSERT_TRUE(wal_->Close().ok());
  const raft::HardState hs = Hs(1, 0, 0);
  EXPECT_EQ(wal_->Save(&hs, {}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(wal_->SaveSnapshot(Snap(0, 0)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(wal_->ReleaseTo(0).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(wal_->Close().ok());
}

TEST_F(WalTest, WithoutCreateIfMissingAnEmptyDirectoryIsNotFound) {
  options_.create_if_missing = false;
  ASSERT_EQ(::mkdir(dir().c_str(), 0755), 0);
  EXPECT_EQ(Wal::Open(&fs_, dir(), options_).status().code(), absl::StatusCode::kNotFound);
}

// Durability of unsynced batches, checked by cutting the power in the fault-injecting model.
class WalSyncTest : public ::testing::Test {
 protected:
  WalSyncTest() {
    options_.segment_bytes = 64 << 10;
    options_.prepare_segments_in_background = false;
    EXPECT_TRUE(fs_.CreateDir("/wal").ok());
  }
  std::unique_ptr<Wal> Open(RecoveredLog* log = nullptr) {
    absl::StatusOr<Wal::Opened> o = Wal::Open(&fs_, "/wal", options_);
    EXPECT_TRUE(o.ok()) << o.status();
    if (!o.ok()) std::abort();
    if (log != nullptr) *log = std::move(o->log);
    return std::move(o->wal);
  }
  fs::FaultInjectingFileSystem fs_;
  WalOptions options_;
};

TEST_F(WalSyncTest, UnsyncedBatchesAreLostInACrashUntilASyncedSaveOrClose) {
  const raft::HardState hs = Hs(1, 1, 0);
  const std::vector<raft::Entry> a = MakeEntries(1, 5, 1);
  const std::vector<raft::Entry> b = MakeEntries(6, 5, 1);
  const std::vector<raft::Entry> c = MakeEntries(11, 5, 1);
  {
    std::unique_ptr<Wal> wal = Open();
    ASSERT_TRUE(wal->Save(&hs, a).ok());
    ASSERT_TRUE(
        wal->Save({.snapshot = nullptr, .entries = b, .hard_state = nullptr, .sync = false}).ok());
  }
  fs_.SimulateCrash(fs::CrashMode::kDropUnsynced);
  RecoveredLog log;
  std::unique_ptr<Wal> wal = Open(&log);
  EXPECT_EQ(log.last_index(), 5u) << "the unsynced batch must not survive a power loss";

  ASSERT_TRUE(
      wal->Save({.snapshot = nullptr, .entries = b, .hard_state = nullptr, .sync = false}).ok());
  ASSERT_TRUE(wal->Save(nullptr, c).ok());  // syncs b too
  wal.reset();
  fs_.SimulateCrash(fs::CrashMode::kDropUnsynced);
  wal = Open(&log);
  EXPECT_EQ(log.last_index(), 15u);

  const std::vector<raft::Entry> d = MakeEntries(16, 5, 1);
  ASSERT_TRUE(
      wal->Save({.snapshot = nullptr, .entries = d, .hard_state = nullptr, .sync = false}).ok());
  ASSERT_TRUE(wal->Close().ok());
  wal.reset();
  fs_.SimulateCrash(fs::CrashMode::kDropUnsynced);
  Open(&log);
  EXPECT_EQ(log.last_index(), 20u) << "Close syncs";
}

// Group commit: one write(2) and one fdatasync per Save, whatever the batch size.
TEST_F(WalSyncTest, OneWriteAndOneSyncPerSave) {
  options_.segment_bytes = 8 << 20;
  std::unique_ptr<Wal> wal = Open();
  // The first Save starts segment 1 and so prepares segment 2; count from the second on.
  const raft::HardState hs0 = Hs(1, 1, 0);
  ASSERT_TRUE(wal->Save(&hs0, MakeEntries(1, 1, 1)).ok());
  raft::Index next = 2;
  for (size_t n : {1, 16, 256, 1, 256, 16}) {
    const std::vector<raft::Entry> entries = MakeEntries(next, n, 1, 256);
    const raft::HardState hs = Hs(1, 1, next - 1);
    const uint64_t writes = fs_.op_count(fs::FsOp::kWrite);
    const uint64_t syncs = fs_.op_count(fs::FsOp::kSync);
    const uint64_t mutations = fs_.mutation_count();
    ASSERT_TRUE(wal->Save(&hs, entries).ok());
    EXPECT_EQ(fs_.op_count(fs::FsOp::kWrite) - writes, 1u) << n << " entries";
    EXPECT_EQ(fs_.op_count(fs::FsOp::kSync) - syncs, 1u) << n << " entries";
    EXPECT_EQ(fs_.mutation_count() - mutations, 2u) << n << " entries";
    next += n;
  }
  // Unsynced Saves write without syncing.
  const uint64_t syncs = fs_.op_count(fs::FsOp::kSync);
  const std::vector<raft::Entry> entries = MakeEntries(next, 3, 1, 256);
  ASSERT_TRUE(
      wal->Save({.snapshot = nullptr, .entries = entries, .hard_state = nullptr, .sync = false})
          .ok());
  EXPECT_EQ(fs_.op_count(fs::FsOp::kSync), syncs);
}

}  // namespace
}  // namespace kvd::wal
