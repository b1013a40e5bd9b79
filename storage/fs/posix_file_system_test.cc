#include "storage/fs/posix_file_system.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "storage/fs/scratch_dir.h"

namespace kvd::fs {
namespace {

class PosixFileSystemTest : public ::testing::Test {
 protected:
  std::string P(std::string_view name) const { return tmp_.Sub(name); }
  ScratchDir tmp_;
  PosixFileSystem fs_;
};

TEST_F(PosixFileSystemTest, WritesAtOffsetsAndReadsBack) {
  auto f = fs_.OpenWritable(P("a"), OpenMode::kCreateNew);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->WriteAt(0, "hello").ok());
  ASSERT_TRUE((*f)->WriteAt(8, "world").ok());  // leaves a hole that reads as zeros
  ASSERT_TRUE((*f)->WriteAt(1, "E").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  EXPECT_EQ(*fs_.ReadFile(P("a")), std::string("hEllo\0\0\0world", 13));
}

TEST_F(PosixFileSystemTest, PreallocateGrowsWithZerosAndTruncateCuts) {
  auto f = fs_.OpenWritable(P("a"), OpenMode::kCreateNew);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->WriteAt(0, "abc").ok());
  ASSERT_TRUE((*f)->Preallocate(1 << 16).ok());
  std::string content = *fs_.ReadFile(P("a"));
  ASSERT_EQ(content.size(), 1u << 16);
  EXPECT_EQ(content.substr(0, 3), "abc");
  EXPECT_TRUE(std::all_of(content.begin() + 3, content.end(), [](char c) { return c == 0; }));
  ASSERT_TRUE((*f)->Preallocate(10).ok());  // never shrinks
  EXPECT_EQ(fs_.ReadFile(P("a"))->size(), 1u << 16);
  ASSERT_TRUE((*f)->Truncate(2).ok());
  EXPECT_EQ(*fs_.ReadFile(P("a")), "ab");
}

TEST_F(PosixFileSystemTest, OpenModesAndErrorsNameThePath) {
  ASSERT_TRUE(fs_.OpenWritable(P("a"), OpenMode::kCreateNew).ok());
  const absl::Status exists = fs_.OpenWritable(P("a"), OpenMode::kCreateNew).status();
  EXPECT_EQ(exists.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(absl::StrContains(exists.message(), P("a"))) << exists;
  EXPECT_TRUE(fs_.OpenWritable(P("a"), OpenMode::kOpenExisting).ok());
  const absl::Status missing = fs_.OpenWritable(P("b"), OpenMode::kOpenExisting).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(missing.message(), P("b"))) << missing;
  EXPECT_EQ(fs_.ReadFile(P("b")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(fs_.Remove(P("b")).code(), absl::StatusCode::kNotFound);
}

TEST_F(PosixFileSystemTest, DirectoryOperations) {
  ASSERT_TRUE(fs_.CreateDir(P("d")).ok());
  ASSERT_TRUE(fs_.CreateDir(P("d")).ok());  // already there
  ASSERT_TRUE(fs_.OpenWritable(P("d/x"), OpenMode::kCreateNew).ok());
  ASSERT_TRUE(fs_.OpenWritable(P("d/y"), OpenMode::kCreateNew).ok());
  EXPECT_FALSE(fs_.CreateDir(P("d/x")).ok()) << "a file is in the way";
  ASSERT_TRUE(fs_.Rename(P("d/x"), P("d/y")).ok());  // replaces y
  ASSERT_TRUE(fs_.SyncDir(P("d")).ok());
  std::vector<std::string> names = *fs_.ListDir(P("d"));
  EXPECT_EQ(names, std::vector<std::string>{"y"});
  ASSERT_TRUE(fs_.Remove(P("d/y")).ok());
  EXPECT_TRUE(fs_.ListDir(P("d"))->empty());
  EXPECT_EQ(fs_.ListDir(P("nope")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs_.SyncDir(P("nope")).ok());
}

TEST_F(PosixFileSystemTest, WriteFileAtomicallyReplacesAndLeavesNoTempFile) {
  ASSERT_TRUE(WriteFileAtomically(fs_, tmp_.path(), "v", "one").ok());
  ASSERT_TRUE(WriteFileAtomically(fs_, tmp_.path(), "v", "two").ok());
  EXPECT_EQ(*fs_.ReadFile(P("v")), "two");
  EXPECT_EQ(*fs_.ListDir(tmp_.path()), std::vector<std::string>{"v"});
}

// How many pages of a file are in the page cache (mincore over a mapping of it).
size_t ResidentPages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  struct stat st;
  EXPECT_EQ(::fstat(fd, &st), 0);
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  EXPECT_NE(map, MAP_FAILED);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size + page - 1) / page);
  EXPECT_EQ(::mincore(map, size, resident.data()), 0);
  ::munmap(map, size);
  return static_cast<size_t>(
      std::count_if(resident.begin(), resident.end(), [](unsigned char r) { return r & 1; }));
}

TEST_F(PosixFileSystemTest, EvictCachedPagesKeepsTheContentAndEmptiesTheCache) {
  const std::string content(256 << 10, 'k');
  {
    auto f = fs_.OpenWritable(P("a"), OpenMode::kCreateNew);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->WriteAt(0, content).ok());  // dirty: never synced
  }
  ASSERT_EQ(*fs_.ReadFile(P("a")), content);
  ASSERT_TRUE(fs_.EvictCachedPages(P("a")).ok());
  struct statfs sfs;
  ASSERT_EQ(::statfs(tmp_.path().c_str(), &sfs), 0);
  if (sfs.f_type != TMPFS_MAGIC) {  // tmpfs pages are the file: nothing to evict them to
    EXPECT_EQ(ResidentPages(P("a")), 0u) << "pages still cached after the eviction";
  }
  EXPECT_EQ(*fs_.ReadFile(P("a")), content);
  const absl::Status missing = fs_.EvictCachedPages(P("b"));
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(missing.message(), P("b"))) << missing;
}

TEST(PathTest, JoinAndDirName) {
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
  EXPECT_EQ(DirName("/x/y/z.wal"), "/x/y");
  EXPECT_EQ(DirName("/z"), "/");
  EXPECT_EQ(DirName("z"), ".");
}

}  // namespace
}  // namespace kvd::fs
