// Faults injected through the file-system seam: a failed write or fdatasync is never reported
// durable and leaves the WAL refusing further use; after a power cut at any file-system
// operation (recovery's own included), the recovered log is exactly a prefix of what was saved
// that includes everything acknowledged as durable.
#include <optional>
#include <random>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "storage/fs/fault_injecting_file_system.h"
#include "storage/wal/wal.h"
#include "storage/wal/wal_workload.h"

namespace kvd::wal {
namespace {

using fs::CrashMode;
using fs::FsOp;
using testing::LogModel;
using testing::WalOp;

constexpr char kDir[] = "/wal";

WalOptions SmallSegments() {
  WalOptions o;
  o.segment_bytes = 8 << 10;
  o.prepare_segments_in_background = false;
  return o;
}

class WalFaultTest : public ::testing::Test {
 protected:
  WalFaultTest() { EXPECT_TRUE(fs_.CreateDir(kDir).ok()); }

  std::unique_ptr<Wal> Open(RecoveredLog* log = nullptr) {
    absl::StatusOr<Wal::Opened> o = Wal::Open(&fs_, kDir, options_);
    EXPECT_TRUE(o.ok()) << o.status();
    if (!o.ok()) return nullptr;
    if (log != nullptr) *log = std::move(o->log);
    return std::move(o->wal);
  }

  // Saves `n` random valid operations, all acknowledged, into acked_.
  void SaveAcknowledged(Wal& wal, int n, std::mt19937_64& rng) {
    testing::WorkloadShape shape;
    shape.unsynced_probability = 0;
    shape.release_probability = 0;
    for (int i = 0; i < n; ++i) {
      const WalOp op = testing::NextOp(rng, acked_, shape);
      ASSERT_TRUE(testing::ApplyToWal(wal, op).ok()) << op.ToString();
      testing::ApplyToModel(acked_, op);
    }
  }

  // The next Save, and the model if it had gone through.
  WalOp NextSave(std::mt19937_64& rng, LogModel* if_saved) {
    testing::WorkloadShape shape;
    shape.unsynced_probability = 0;
    shape.release_probability = 0;
    shape.compaction_probability = 0;
    const WalOp op = testing::NextOp(rng, acked_, shape);
    *if_saved = acked_;
    testing::ApplyToModel(*if_saved, op);
    return op;
  }

  void ExpectDead(Wal& wal) {
    EXPECT_FALSE(wal.health().ok());
    std::mt19937_64 rng(1);
    LogModel ignored;
    const absl::Status s = testing::ApplyToWal(wal, NextSave(rng, &ignored));
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(wal.SaveSnapshot(acked_.snapshot).ok());
    EXPECT_FALSE(wal.ReleaseTo(acked_.snapshot.index).ok());
    EXPECT_FALSE(wal.Close().ok());
  }

  fs::FaultInjectingFileSystem fs_{7};
  WalOptions options_ = SmallSegments();
  LogModel acked_;
};

TEST_F(WalFaultTest, FailedSyncIsNeverReportedDurable) {
  for (int mode = 0; mode < 3; ++mode) {
    SCOPED_TRACE(mode == 0 ? "power loss" : mode == 1 ? "torn power loss" : "process restart");
    fs_.SimulateCrash(CrashMode::kDropUnsynced);
    const std::vector<std::string> names = *fs_.ListDir(kDir);
    for (const std::string& name : names) {
      ASSERT_TRUE(fs_.Remove(fs::JoinPath(kDir, name)).ok());
    }
    ASSERT_TRUE(fs_.SyncDir(kDir).ok());
    acked_ = LogModel{};
    std::mt19937_64 rng(mode);
    std::unique_ptr<Wal> wal = Open();
    ASSERT_NE(wal, nullptr);
    SaveAcknowledged(*wal, 30, rng);

    LogModel if_saved;
    const WalOp op = NextSave(rng, &if_saved);
    fs_.FailNth(FsOp::kSync, 1);
    const absl::Status s = testing::ApplyToWal(*wal, op);
    ASSERT_FALSE(s.ok()) << "a failed fdatasync was reported durable";
    EXPECT_NE(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(s.message(), "fdatasync")) << s;
    ExpectDead(*wal);
    wal.reset();

    if (mode < 2) {
      fs_.SimulateCrash(mode == 0 ? CrashMode::kDropUnsynced : CrashMode::kKeepRandomUnsynced, 99);
    }
    RecoveredLog log;
    ASSERT_NE(Open(&log), nullptr);
    const LogModel got = testing::ModelOf(log);
    // The kernel marked the batch's pages clean when the sync failed: it can never reach the
    // disk. Without a power loss the page cache may still hold it, but recovery reads the disk.
    EXPECT_EQ(got, acked_) << testing::Describe(got);
  }
}

// The restart after a failed fdatasync, without a power loss: the batch it failed to write is
// still in the page cache, marked clean, and a sync on a new descriptor succeeds. Recovery must
// not take it for durable: the caller builds on what Open returns (Raft acknowledges it), and
// the next power cut would take it away from under what came after.
TEST_F(WalFaultTest, ABatchWhoseSyncFailedIsNotRecoveredFromThePageCache) {
  std::mt19937_64 rng(23);
  std::unique_ptr<Wal> wal = Open();
  ASSERT_NE(wal, nullptr);
  SaveAcknowledged(*wal, 20, rng);
  LogModel if_saved;
  const WalOp op = NextSave(rng, &if_saved);
  fs_.FailNth(FsOp::kSync, 1);
  ASSERT_FALSE(testing::ApplyToWal(*wal, op).ok());
  wal.reset();  // the process stops; the page cache (and the failed batch in it) stays

  RecoveredLog log;
  wal = Open(&log);
  ASSERT_NE(wal, nullptr);
  ASSERT_EQ(testing::ModelOf(log), acked_)
      << "recovered the batch whose fdatasync failed: " << testing::Describe(testing::ModelOf(log));
  // The member goes on from what it recovered, then the power goes.
  acked_ = testing::ModelOf(log);
  SaveAcknowledged(*wal, 10, rng);
  wal.reset();
  fs_.SimulateCrash(CrashMode::kDropUnsynced);
  absl::StatusOr<Wal::Opened> o = Wal::Open(&fs_, kDir, options_);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(testing::ModelOf(o->log), acked_) << testing::Describe(testing::ModelOf(o->log));
}

TEST_F(WalFaultTest, FailedWriteLeavesTheWalRefusingFurtherUse) {
  std::mt19937_64 rng(11);
  std::unique_ptr<Wal> wal = Open();
  ASSERT_NE(wal, nullptr);
  SaveAcknowledged(*wal, 40, rng);
  LogModel if_saved;
  const WalOp op = NextSave(rng, &if_saved);
  fs_.FailNth(FsOp::kWrite, 1);
  const absl::Status s = testing::ApplyToWal(*wal, op);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.code(), absl::StatusCode::kInvalidArgument);
  ExpectDead(*wal);
  wal.reset();

  RecoveredLog log;
  ASSERT_NE(Open(&log), nullptr);  // a restart: part of the failed write may be in the file
  LogModel got = testing::ModelOf(log);
  EXPECT_TRUE(got == acked_ || got == if_saved) << testing::Describe(got);
  fs_.SimulateCrash(CrashMode::kDropUnsynced);
  ASSERT_NE(Open(&log), nullptr);
  got = testing::ModelOf(log);
  EXPECT_TRUE(got == acked_ || got == if_saved) << testing::Describe(got);
}

TEST_F(WalFaultTest, FailedSegmentPreparationFailsTheSaveThatNeedsTheSegment) {
  std::mt19937_64 rng(5);
  std::unique_ptr<Wal> wal = Open();
  ASSERT_NE(wal, nullptr);
  fs_.FailNth(FsOp::kRename, 1);  // preparing segment 2, right after segment 1 starts
  testing::WorkloadShape shape;
  shape.unsynced_probability = 0;
  absl::Status s;
  while (true) {
    const WalOp op = testing::NextOp(rng, acked_, shape);
    s = testing::ApplyToWal(*wal, op);
    if (!s.ok()) break;
    testing::ApplyToModel(acked_, op);
    ASSERT_EQ(wal->SegmentSeqs().size(), 1u) << "segment 2 was never prepared";
  }
  EXPECT_TRUE(absl::StrContains(s.message(), "preparing segment 2")) << s;
  ExpectDead(*wal);
  wal.reset();
  RecoveredLog log;
  ASSERT_NE(Open(&log), nullptr);
  EXPECT_EQ(testing::ModelOf(log), acked_);
  ASSERT_EQ(log.notices.size(), 1u) << "the half-prepared segment is cleaned up";
  EXPECT_TRUE(absl::StrContains(log.notices[0], "0000000000000002.wal.tmp")) << log.notices[0];
}

TEST_F(WalFaultTest, FailedDirectorySyncInReleaseToLeavesTheWalRefusing) {
  std::mt19937_64 rng(9);
  std::unique_ptr<Wal> wal = Open();
  ASSERT_NE(wal, nullptr);
  while (wal->SegmentSeqs().size() < 6 && !HasFatalFailure()) SaveAcknowledged(*wal, 1, rng);
  const raft::Index s_index = acked_.hard_state.commit;
  ASSERT_GT(s_index, acked_.snapshot.index);
  WalOp snap;
  snap.kind = WalOp::Kind::kSaveSnapshot;
  snap.snapshot = raft::SnapshotMetadata{.conf_state = {.voters = {1, 2, 3}, .learners = {}},
                                         .index = s_index,
                                         .term = acked_.TermAt(s_index)};
  ASSERT_TRUE(testing::ApplyToWal(*wal, snap).ok());
  testing::ApplyToModel(acked_, snap);
  fs_.FailNth(FsOp::kSyncDir, 1);
  EXPECT_FALSE(wal->ReleaseTo(s_index).ok());
  ExpectDead(*wal);
  wal.reset();
  fs_.SimulateCrash(CrashMode::kKeepRandomUnsynced, 3);
  RecoveredLog log;
  ASSERT_NE(Open(&log), nullptr);
  EXPECT_EQ(testing::ModelOf(log), acked_);
}

// A process that died right after renaming the prepared segment into place, before syncing the
// directory: after a restart the WAL adopts that segment and writes acknowledged batches into it,
// so its name must be made durable before it is used.
TEST_F(WalFaultTest, ASegmentAdoptedAfterARestartHasADurableName) {
  std::mt19937_64 rng(17);
  std::unique_ptr<Wal> wal = Open();
  ASSERT_NE(wal, nullptr);
  fs_.FailNth(FsOp::kSyncDir, 1);  // the preparer's, after its rename of segment 2
  SaveAcknowledged(*wal, 1, rng);
  wal.reset();  // the process dies; the page cache (and segment 2's name in it) lives on
  wal = Open();
  ASSERT_NE(wal, nullptr);
  // Keep the preparation of segment 3 from syncing the directory on our behalf.
  fs_.FailNth(FsOp::kCreate, 1);
  while (wal->SegmentSeqs().size() < 2 && !HasFatalFailure()) SaveAcknowledged(*wal, 1, rng);
  wal.reset();
  fs_.SimulateCrash(CrashMode::kDropUnsynced);
  RecoveredLog log;
  ASSERT_NE(Open(&log), nullptr);
  EXPECT_EQ(testing::ModelOf(log), acked_);
}

TEST_F(WalFaultTest, FailedRepairRefusesToOpen) {
  options_.segment_bytes = 1 << 20;  // everything in segment 1
  std::mt19937_64 rng(13);
  std::unique_ptr<Wal> wal = Open();
  ASSERT_NE(wal, nullptr);
  SaveAcknowledged(*wal, 10, rng);
  LogModel if_saved;
  const WalOp op = NextSave(rng, &if_saved);
  fs_.FailNth(FsOp::kSync, 1);
  ASSERT_FALSE(testing::ApplyToWal(*wal, op).ok());
  wal.reset();
  // The failed batch is still in the page cache; if it is torn, recovery must zero it, and a
  // failure to sync that repair must not let the WAL open.
  std::string seg = *fs_.ReadFile(fs::JoinPath(kDir, "0000000000000001.wal"));
  size_t last_nonzero = seg.size();
  while (last_nonzero > 0 && seg[last_nonzero - 1] == 0) --last_nonzero;
  seg[last_nonzero - 1] ^= 1;  // tear the last record
  fs_.PutDurableFile(fs::JoinPath(kDir, "0000000000000001.wal"), seg);
  fs_.FailNth(FsOp::kSync, 1);
  absl::StatusOr<Wal::Opened> o = Wal::Open(&fs_, kDir, options_);
  EXPECT_FALSE(o.ok());
  // The zeros of the failed repair are only in the page cache; a restart reads the disk, finds
  // the torn batch again and cuts it again.
  RecoveredLog log;
  ASSERT_NE(Open(&log), nullptr);
  EXPECT_EQ(testing::ModelOf(log), acked_);
  EXPECT_EQ(log.notices.size(), 1u);
  // That repair was synced: after a power loss there is nothing left to cut.
  fs_.SimulateCrash(CrashMode::kDropUnsynced);
  ASSERT_NE(Open(&log), nullptr);
  EXPECT_EQ(testing::ModelOf(log), acked_);
  EXPECT_TRUE(log.notices.empty());
}

// Power cuts at random file-system operations, recovery's own included, and failed fdatasyncs
// followed by a restart of the process (no power loss), with random workloads (truncations,
// snapshots installed and taken, releases, unsynced batches). After each one the recovered log
// must equal the log after some prefix of the operations issued, no shorter than the last one
// acknowledged as durable, and whatever recovery returns counts as durable from then on.
TEST(WalPowerCutTest, RecoversADurablePrefixAfterEveryPowerCut) {
  const uint64_t seed = testing::SeedFromEnv("KVD_WAL_POWER_CUT_SEED");
  const int runs = testing::CountFromEnv("KVD_WAL_POWER_CUT_RUNS", 100);
  int cuts = 0, cuts_in_recovery = 0, restarts_after_failed_sync = 0, torn_tails = 0;
  for (int run = 0; run < runs; ++run) {
    SCOPED_TRACE(testing::Describe(LogModel{}) + " run " + std::to_string(run));
    std::seed_seq run_seed{seed, static_cast<uint64_t>(run)};
    std::mt19937_64 rng(run_seed);
    fs::FaultInjectingFileSystem fs(rng());
    ASSERT_TRUE(fs.CreateDir(kDir).ok());
    WalOptions options = SmallSegments();
    options.segment_bytes = 4096 << (rng() % 3);
    testing::WorkloadShape shape;
    shape.max_entries_per_batch = 12;
    shape.max_entry_bytes = 300;
    shape.unsynced_probability = 0.25;
    shape.compaction_probability = 0.08;
    shape.release_probability = 0.1;
    std::vector<LogModel> history{LogModel{}};  // the log after each operation issued
    size_t durable = 0;  // history[durable] and before were acknowledged as durable

    for (int cycle = 0; cycle < 8; ++cycle) {
      // Recover, possibly through power cuts during recovery itself.
      std::optional<Wal::Opened> opened;
      for (int attempt = 0; !opened; ++attempt) {
        ASSERT_LT(attempt, 10);
        const bool cut_recovery = attempt == 0 && rng() % 3 == 0;
        if (cut_recovery) fs.StopAtNthMutation(1 + rng() % 12);
        absl::StatusOr<Wal::Opened> o = Wal::Open(&fs, kDir, options);
        if (o.ok()) {
          opened = std::move(*o);
          fs.StopAtNthMutation(0);
          break;
        }
        ASSERT_TRUE(fs.stopped()) << "recovery failed without a power cut: " << o.status();
        ++cuts_in_recovery;
        fs.SimulateCrash(rng() % 2 ? CrashMode::kDropUnsynced : CrashMode::kKeepRandomUnsynced,
                         rng());
      }
      torn_tails += opened->log.notices.empty() ? 0 : 1;
      const LogModel got = testing::ModelOf(opened->log);
      size_t match = history.size();
      for (size_t j = history.size(); j-- > durable;) {
        if (history[j] == got) {
          match = j;
          break;
        }
      }
      ASSERT_LT(match, history.size())
          << "recovered " << testing::Describe(got) << "\nwhich is no prefix of the "
          << history.size() - 1 << " operations issued at or after the durable one: "
          << testing::Describe(history[durable])
          << "\nlast issued: " << testing::Describe(history.back());
      history.resize(match + 1);
      durable = match;  // Open syncs what it recovered

      // Run until the power goes or, one cycle in four, until an fdatasync fails; then the
      // process restarts with the page cache as it was, the failed batch's pages in it.
      std::unique_ptr<Wal> wal = std::move(opened->wal);
      const bool failed_sync = rng() % 4 == 0;
      if (failed_sync) {
        fs.FailNth(FsOp::kSync, 1 + rng() % 20);
      } else {
        fs.StopAtNthMutation(1 + rng() % 150);
      }
      bool dead = false;
      for (int i = 0; i < 400 && !dead; ++i) {
        const WalOp op = testing::NextOp(rng, history.back(), shape);
        LogModel next = history.back();
        testing::ApplyToModel(next, op);
        const absl::Status s = testing::ApplyToWal(*wal, op);
        if (s.ok()) {
          if (op.kind != WalOp::Kind::kReleaseTo) history.push_back(std::move(next));
          const bool synced =
              (op.kind == WalOp::Kind::kSave && op.sync) || op.kind == WalOp::Kind::kSaveSnapshot;
          if (synced) durable = history.size() - 1;
          continue;
        }
        ASSERT_NE(s.code(), absl::StatusCode::kInvalidArgument) << op.ToString() << ": " << s;
        ASSERT_TRUE(fs.stopped() || failed_sync) << op.ToString() << ": " << s;
        if (op.kind != WalOp::Kind::kReleaseTo) history.push_back(std::move(next));  // maybe
        EXPECT_FALSE(wal->health().ok());
        dead = true;
      }
      wal.reset();
      if (failed_sync) {
        ++restarts_after_failed_sync;
        fs.FailNth(FsOp::kSync, 0);
      } else {
        ++cuts;
        fs.SimulateCrash(rng() % 2 ? CrashMode::kDropUnsynced : CrashMode::kKeepRandomUnsynced,
                         rng());
      }
    }
  }
  std::cout << "power cuts: " << cuts << " while running, " << cuts_in_recovery
            << " during recovery; " << restarts_after_failed_sync
            << " restarts after a failed fdatasync; " << torn_tails
            << " recoveries cut off a torn tail\n";
}

}  // namespace
}  // namespace kvd::wal
