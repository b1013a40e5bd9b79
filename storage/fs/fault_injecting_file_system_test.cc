// The fault-injecting file system keeps exactly what POSIX promises to keep, and no more.
#include "storage/fs/fault_injecting_file_system.h"

#include <set>

#include "gtest/gtest.h"

namespace kvd::fs {
namespace {

class FaultInjectingFileSystemTest : public ::testing::Test {
 protected:
  FaultInjectingFileSystemTest() { EXPECT_TRUE(fs_.CreateDir("/d").ok()); }

  std::unique_ptr<WritableFile> Create(const std::string& path) {
    auto f = fs_.OpenWritable(path, OpenMode::kCreateNew);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? std::move(*f) : nullptr;
  }
  // A file written, synced and named durably.
  void Durable(const std::string& path, std::string_view content) {
    auto f = Create(path);
    ASSERT_TRUE(f->WriteAt(0, content).ok());
    ASSERT_TRUE(f->Sync().ok());
    ASSERT_TRUE(fs_.SyncDir("/d").ok());
  }
  std::string Read(const std::string& path) {
    auto s = fs_.ReadFile(path);
    return s.ok() ? *s : "<" + std::string(absl::StatusCodeToString(s.status().code())) + ">";
  }

  FaultInjectingFileSystem fs_;
};

TEST_F(FaultInjectingFileSystemTest, SyncedDataSurvivesACrashUnsyncedDoesNot) {
  Durable("/d/a", "synced");
  auto f = fs_.OpenWritable("/d/a", OpenMode::kOpenExisting);
  ASSERT_TRUE((*f)->WriteAt(6, " and not").ok());
  EXPECT_EQ(Read("/d/a"), "synced and not");  // reads see the page cache
  fs_.SimulateCrash(CrashMode::kDropUnsynced);
  EXPECT_EQ(Read("/d/a"), "synced");
}

TEST_F(FaultInjectingFileSystemTest, ANewNameNeedsADirectorySync) {
  auto f = Create("/d/a");
  ASSERT_TRUE(f->WriteAt(0, "data").ok());
  ASSERT_TRUE(f->Sync().ok());  // the data, not the name
  fs_.SimulateCrash(CrashMode::kDropUnsynced);
  EXPECT_FALSE(fs_.Exists("/d/a"));
  Durable("/d/b", "data");
  fs_.SimulateCrash(CrashMode::kDropUnsynced);
  EXPECT_EQ(Read("/d/b"), "data");
}

TEST_F(FaultInjectingFileSystemTest, RenameAndRemoveNeedADirectorySync) {
  Durable("/d/old", "old");
  Durable("/d/new", "new");
  ASSERT_TRUE(fs_.Rename("/d/new", "/d/old").ok());
  ASSERT_TRUE(fs_.Remove("/d/old").ok());
  EXPECT_FALSE(fs_.Exists("/d/old"));
  fs_.SimulateCrash(CrashMode::kDropUnsynced);
  EXPECT_EQ(Read("/d/old"), "old");
  EXPECT_EQ(Read("/d/new"), "new");
  ASSERT_TRUE(fs_.Rename("/d/new", "/d/old").ok());
  ASSERT_TRUE(fs_.SyncDir("/d").ok());
  fs_.SimulateCrash(CrashMode::kDropUnsynced);
  EXPECT_EQ(Read("/d/old"), "new");
  EXPECT_FALSE(fs_.Exists("/d/new"));
}

TEST_F(FaultInjectingFileSystemTest, RenameIsAtomicUnderARandomCrash) {
  std::set<std::string> seen;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    FaultInjectingFileSystem fs;
    ASSERT_TRUE(fs.CreateDir("/d").ok());
    fs.PutDurableFile("/d/v", "old");
    auto f = fs.OpenWritable("/d/v.tmp", OpenMode::kCreateNew);
    ASSERT_TRUE((*f)->WriteAt(0, "new").ok());
    ASSERT_TRUE((*f)->Sync().ok());
    ASSERT_TRUE(fs.Rename("/d/v.tmp", "/d/v").ok());
    fs.SimulateCrash(CrashMode::kKeepRandomUnsynced, seed);
    const std::string v = *fs.ReadFile("/d/v");
    ASSERT_TRUE(v == "old" || v == "new") << v;
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 2u) << "both outcomes are possible";
}

TEST_F(FaultInjectingFileSystemTest, AFailedSyncLosesTheDataEvenAfterALaterSyncSucceeds) {
  Durable("/d/a", "v1");
  auto f = fs_.OpenWritable("/d/a", OpenMode::kOpenExisting);
  ASSERT_TRUE((*f)->WriteAt(0, "v2").ok());
  fs_.FailNth(FsOp::kSync, 1);
  EXPECT_FALSE((*f)->Sync().ok());
  EXPECT_EQ(Read("/d/a"), "v2");   // still in the page cache...
  EXPECT_TRUE((*f)->Sync().ok());  // ...and a retry "succeeds"...
  fs_.SimulateCrash(CrashMode::kDropUnsynced);
  EXPECT_EQ(Read("/d/a"), "v1");  // ...but it never reached the disk
}

// What a failed fdatasync leaves in the page cache outlives the handle (and the process): a new
// handle's sync succeeds and reads still see it, until EvictCachedPages drops it.
TEST_F(FaultInjectingFileSystemTest, EvictionDropsWhatAFailedSyncLeftAndSyncsTheRest) {
  Durable("/d/a", "v1");
  {
    auto f = fs_.OpenWritable("/d/a", OpenMode::kOpenExisting);
    ASSERT_TRUE((*f)->WriteAt(0, "v2").ok());
    fs_.FailNth(FsOp::kSync, 1);
    EXPECT_FALSE((*f)->Sync().ok());
  }
  auto g = fs_.OpenWritable("/d/a", OpenMode::kOpenExisting);
  EXPECT_TRUE((*g)->Sync().ok());
  EXPECT_EQ(Read("/d/a"), "v2");  // clean in the cache, not on disk
  ASSERT_TRUE(fs_.EvictCachedPages("/d/a").ok());
  EXPECT_EQ(Read("/d/a"), "v1");  // what the disk holds
  EXPECT_EQ(fs_.op_count(FsOp::kEvictCachedPages), 1u);

  // Writes not yet synced are written, not dropped.
  ASSERT_TRUE((*g)->WriteAt(2, "+v3").ok());
  ASSERT_TRUE(fs_.EvictCachedPages("/d/a").ok());
  EXPECT_EQ(Read("/d/a"), "v1+v3");
  fs_.SimulateCrash(CrashMode::kDropUnsynced);
  EXPECT_EQ(Read("/d/a"), "v1+v3");

  // A failed eviction is a failed fdatasync: it says so, and the pages stay.
  auto h = fs_.OpenWritable("/d/a", OpenMode::kOpenExisting);
  ASSERT_TRUE((*h)->WriteAt(0, "xx").ok());
  fs_.FailNth(FsOp::kEvictCachedPages, 1);
  EXPECT_FALSE(fs_.EvictCachedPages("/d/a").ok());
  EXPECT_EQ(Read("/d/a"), "xx+v3");
  ASSERT_TRUE(fs_.EvictCachedPages("/d/a").ok());
  EXPECT_EQ(Read("/d/a"), "v1+v3");
  EXPECT_EQ(fs_.EvictCachedPages("/d/none").code(), absl::StatusCode::kNotFound);
}

TEST_F(FaultInjectingFileSystemTest, FailNthFailsExactlyThatOperation) {
  auto f = Create("/d/a");
  fs_.FailNth(FsOp::kWrite, 2);
  EXPECT_TRUE(f->WriteAt(0, "one").ok());
  const absl::Status s = f->WriteAt(3, std::string(4096, 'x'));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/d/a"), absl::string_view::npos) << s;
  const std::string after = Read("/d/a");
  EXPECT_EQ(after.substr(0, 3), "one");
  EXPECT_EQ((after.size() - 3) % 512, 0u) << "a failed write stores whole sectors, if any";
  EXPECT_TRUE(f->WriteAt(3, "ok").ok());
  EXPECT_EQ(fs_.op_count(FsOp::kWrite), 3u);
}

TEST_F(FaultInjectingFileSystemTest, APowerCutStopsEverythingUntilTheCrash) {
  Durable("/d/a", "a");
  auto f = fs_.OpenWritable("/d/a", OpenMode::kOpenExisting);
  fs_.StopAtNthMutation(2);
  EXPECT_TRUE((*f)->WriteAt(1, "b").ok());
  EXPECT_FALSE((*f)->Sync().ok());
  EXPECT_TRUE(fs_.stopped());
  EXPECT_FALSE(fs_.ReadFile("/d/a").ok());
  EXPECT_FALSE(fs_.ListDir("/d").ok());
  EXPECT_FALSE(fs_.OpenWritable("/d/c", OpenMode::kCreateNew).ok());
  fs_.SimulateCrash(CrashMode::kDropUnsynced);
  EXPECT_FALSE(fs_.stopped());
  EXPECT_EQ(Read("/d/a"), "a");
  EXPECT_EQ((*f)->WriteAt(0, "x").code(), absl::StatusCode::kFailedPrecondition)
      << "handles from before the crash are stale";
}

TEST_F(FaultInjectingFileSystemTest, RandomCrashKeepsEachUnsyncedSectorOldOrNew) {
  const std::string old_content(4096, 'o');
  std::set<std::string> outcomes;
  for (uint64_t seed = 0; seed < 32; ++seed) {
    FaultInjectingFileSystem fs;
    ASSERT_TRUE(fs.CreateDir("/d").ok());
    fs.PutDurableFile("/d/a", old_content);
    auto f = fs.OpenWritable("/d/a", OpenMode::kOpenExisting);
    ASSERT_TRUE((*f)->WriteAt(0, std::string(4096, 'n')).ok());
    fs.SimulateCrash(CrashMode::kKeepRandomUnsynced, seed);
    const std::string got = *fs.ReadFile("/d/a");
    ASSERT_EQ(got.size(), 4096u);
    for (size_t s = 0; s < 8; ++s) {
      const std::string sector = got.substr(s * 512, 512);
      ASSERT_TRUE(sector == std::string(512, 'o') || sector == std::string(512, 'n'));
    }
    outcomes.insert(got);
  }
  EXPECT_GT(outcomes.size(), 10u);
}

TEST_F(FaultInjectingFileSystemTest, TruncateAndPreallocateAreDurableOnlyWhenSynced) {
  Durable("/d/a", "abcdef");
  auto f = fs_.OpenWritable("/d/a", OpenMode::kOpenExisting);
  ASSERT_TRUE((*f)->Truncate(2).ok());
  ASSERT_TRUE((*f)->Preallocate(4).ok());
  EXPECT_EQ(Read("/d/a"), std::string("ab\0\0", 4));
  fs_.SimulateCrash(CrashMode::kDropUnsynced);
  EXPECT_EQ(Read("/d/a"), "abcdef");
  auto g = fs_.OpenWritable("/d/a", OpenMode::kOpenExisting);
  ASSERT_TRUE((*g)->Truncate(2).ok());
  ASSERT_TRUE((*g)->Sync().ok());
  fs_.SimulateCrash(CrashMode::kDropUnsynced);
  EXPECT_EQ(Read("/d/a"), "ab");
}

}  // namespace
}  // namespace kvd::fs
