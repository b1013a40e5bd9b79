// DataDir on real directories: initialization, and every refusal with its message.
#include "storage/data_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/fs/scratch_dir.h"

namespace kvd::storage {
namespace {

namespace stdfs = std::filesystem;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Runs DataDir::Open in a child process (optionally as another user) and returns its outcome.
// The child keeps the directory open until `hold_fd` (if given) is closed by the parent.
absl::Status OpenInChild(const std::string& path, uid_t uid = 0, bool as_other_user = false) {
  int fds[2];
  if (::pipe(fds) != 0) return absl::InternalError("pipe");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    if (as_other_user && (::setgid(uid) != 0 || ::setuid(uid) != 0)) ::_exit(9);
    absl::StatusOr<DataDir> d = DataDir::Open(path, true);
    const std::string report =
        absl::StrCat(static_cast<int>(d.status().code()), "\n", d.status().message());
    if (::write(fds[1], report.data(), report.size()) < 0) ::_exit(8);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string report;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) report.append(buf, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return absl::InternalError("child failed");
  const size_t nl = report.find('\n');
  return absl::Status(static_cast<absl::StatusCode>(std::stoi(report.substr(0, nl))),
                      report.substr(nl + 1));
}

class DataDirTest : public ::testing::Test {
 protected:
  std::string P(std::string_view name) const { return tmp_.Sub(name); }

  // An initialized data directory at P("d"), closed again.
  std::string Initialized() {
    const std::string d = P("d");
    EXPECT_TRUE(DataDir::Open(d, true).ok());
    return d;
  }

  fs::ScratchDir tmp_;
};

TEST_F(DataDirTest, MissingDirectoryIsCreatedAndInitialized) {
  const std::string root = P("a/b/member-1");
  absl::StatusOr<DataDir> d = DataDir::Open(root, true);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->root(), root);
  EXPECT_EQ(d->wal_dir(), root + "/wal");
  EXPECT_EQ(d->db_dir(), root + "/db");
  EXPECT_EQ(d->snap_dir(), root + "/snap");
  for (const std::string& sub : {d->wal_dir(), d->db_dir(), d->snap_dir()}) {
    EXPECT_TRUE(stdfs::is_directory(sub)) << sub;
    EXPECT_TRUE(stdfs::is_empty(sub)) << sub;
  }
  EXPECT_EQ(ReadText(root + "/kvd.version"), "kvd-data-dir-format: 1\n");
  EXPECT_EQ(ReadText(root + "/kvd.lock"), absl::StrCat(::getpid(), "\n"));
  EXPECT_FALSE(stdfs::exists(root + "/kvd.version.tmp"));
}

TEST_F(DataDirTest, EmptyDirectoryIsInitializedAndReopenedWithItsContent) {
  ASSERT_TRUE(stdfs::create_directory(P("d")));
  {
    absl::StatusOr<DataDir> d = DataDir::Open(P("d") + "/", true);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->root(), P("d"));
    WriteText(d->wal_dir() + "/0000000000000001.wal", "x");
  }
  absl::StatusOr<DataDir> again = DataDir::Open(P("d"), false);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(ReadText(again->wal_dir() + "/0000000000000001.wal"), "x");
}

TEST_F(DataDirTest, MissingWithoutCreateIsNotFound) {
  const absl::Status s = DataDir::Open(P("nope"), false).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), absl::StrCat("data directory ", P("nope"), " does not exist"));
  ASSERT_TRUE(stdfs::create_directory(P("empty")));
  EXPECT_EQ(DataDir::Open(P("empty"), false).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DataDirTest, NotADirectoryIsRefused) {
  WriteText(P("file"), "x");
  absl::Status s = DataDir::Open(P("file"), true).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), absl::StrCat("data directory ", P("file"),
                                      " exists but is not a directory; --data-dir must name one"));
  s = DataDir::Open(P("file/sub"), true).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), "a component of the path is not a directory")) << s;
}

TEST_F(DataDirTest, NotWritableIsRefused) {
  ASSERT_EQ(::chmod(tmp_.path().c_str(), 0755), 0);
  const std::string d = Initialized();
  ASSERT_TRUE(stdfs::create_directory(P("ro")));
  const uid_t nobody = 65534;
  absl::Status whole, wal_only;
  if (::geteuid() == 0) {
    // Root writes anywhere: try as an unprivileged user instead.
    whole = OpenInChild(P("ro"), nobody, true);
    ASSERT_EQ(::chown(d.c_str(), nobody, nobody), 0);
    for (const char* part : {"kvd.lock", "db", "snap"}) {
      ASSERT_EQ(::chown((d + "/" + part).c_str(), nobody, nobody), 0);
    }
    wal_only = OpenInChild(d, nobody, true);  // wal/ still belongs to root
  } else {
    ASSERT_EQ(::chmod(P("ro").c_str(), 0555), 0);
    whole = DataDir::Open(P("ro"), true).status();
    ASSERT_EQ(::chmod((d + "/wal").c_str(), 0555), 0);
    wal_only = DataDir::Open(d, true).status();
  }
  EXPECT_EQ(whole.code(), absl::StatusCode::kPermissionDenied) << whole;
  EXPECT_TRUE(absl::StrContains(whole.message(), "is not writable by this process")) << whole;
  EXPECT_TRUE(absl::StrContains(whole.message(), "give this user")) << whole;
  EXPECT_EQ(wal_only.code(), absl::StatusCode::kPermissionDenied) << wal_only;
  EXPECT_TRUE(absl::StrContains(wal_only.message(), d + "/wal is not writable")) << wal_only;
}

TEST_F(DataDirTest, ASecondOpenerIsRefusedWhileTheFirstHoldsIt) {
  const std::string root = P("d");
  {
    absl::StatusOr<DataDir> first = DataDir::Open(root, true);
    ASSERT_TRUE(first.ok());
    // Another process...
    const absl::Status other = OpenInChild(root);
    EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition) << other;
    EXPECT_TRUE(absl::StrContains(
        other.message(), absl::StrCat("data directory ", root, " is in use: pid ", ::getpid(),
                                      " holds the lock on ", root, "/kvd.lock")))
        << other;
    // ...and another open in this one.
    EXPECT_EQ(DataDir::Open(root, true).status().code(), absl::StatusCode::kFailedPrecondition);
    // Moving the DataDir keeps the lock.
    DataDir moved = std::move(*first);
    EXPECT_FALSE(OpenInChild(root).ok());
  }
  EXPECT_TRUE(OpenInChild(root).ok()) << "released when the DataDir went";
}

TEST_F(DataDirTest, ALockHeldByAKilledProcessIsReleased) {
  const std::string root = Initialized();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    absl::StatusOr<DataDir> d = DataDir::Open(root, true);
    const char c = d.ok() ? 'y' : 'n';
    if (::write(ready[1], &c, 1) != 1) ::_exit(1);
    ::pause();  // hold the lock until killed
    ::_exit(0);
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(c, 'y');
  absl::Status held = DataDir::Open(root, true).status();
  EXPECT_EQ(held.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(held.message(), absl::StrCat("pid ", pid, " holds the lock")))
      << held;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  EXPECT_TRUE(DataDir::Open(root, true).ok());
}

TEST_F(DataDirTest, AnotherFormatVersionIsRefused) {
  const std::string d = Initialized();
  WriteText(d + "/kvd.version", "kvd-data-dir-format: 2\n");
  const absl::Status s = DataDir::Open(d, true).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StartsWith(
      s.message(), absl::StrCat("data directory ", d,
                                " was written by format version 2; this kvd reads version 1")))
      << s;
}

TEST_F(DataDirTest, ADamagedVersionFileIsRefused) {
  const std::string d = Initialized();
  WriteText(d + "/kvd.version", "hello\n");
  const absl::Status s = DataDir::Open(d, true).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), d + "/kvd.version is damaged")) << s;
}

TEST_F(DataDirTest, AMissingPieceIsRefused) {
  const std::string d = Initialized();
  stdfs::remove(d + "/db");
  absl::Status s = DataDir::Open(d, true).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(
      s.message(),
      absl::StrCat("data directory ", d, " is incomplete: db/ is missing (wal/, snap/ present)")))
      << s;
  EXPECT_FALSE(stdfs::exists(d + "/db")) << "nothing is silently recreated";
  stdfs::remove(d + "/wal");
  s = DataDir::Open(d, true).status();
  EXPECT_TRUE(absl::StrContains(s.message(), "wal/ and db/ are missing (snap/ present)")) << s;
  WriteText(d + "/db", "not a directory");
  stdfs::create_directory(d + "/wal");
  s = DataDir::Open(d, true).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), d + "/db is not a directory")) << s;
}

// A snapshot install moves db/ to db.replaced/ before it moves the snapshot in; a crash right
// then leaves no db/. The store's open moves it back, so the data directory must let it get that
// far.
TEST_F(DataDirTest, ADatabaseParkedByAnInterruptedInstallStandsForDb) {
  const std::string d = Initialized();
  WriteText(d + "/db/CURRENT", "MANIFEST-000001\n");
  stdfs::rename(d + "/db", d + "/db.replaced");
  absl::StatusOr<DataDir> dir = DataDir::Open(d, true);
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(dir->db_dir(), d + "/db");
  EXPECT_FALSE(stdfs::exists(d + "/db")) << "the data directory leaves the recovery to the store";
  EXPECT_EQ(ReadText(d + "/db.replaced/CURRENT"), "MANIFEST-000001\n");
  dir = absl::StatusOr<DataDir>(absl::UnknownError("closed"));  // release the lock

  // Anything else by that name is no stand-in.
  stdfs::remove_all(d + "/db.replaced");
  WriteText(d + "/db.replaced", "a file");
  const absl::Status s = DataDir::Open(d, true).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), "db/ is missing")) << s;
}

// db/ is a store once RocksDB wrote CURRENT. Files without it are refused, and the error tells
// a creation a crash cut short (nothing but RocksDB's first files) from a database that lost
// CURRENT (it has tables or log data).
TEST_F(DataDirTest, AHalfCreatedStoreIsToldFromARealOneAndRefused) {
  const std::string d = Initialized();
  WriteText(d + "/db/LOCK", "");
  WriteText(d + "/db/IDENTITY", "2c1a0b4e-0000-4000-8000-000000000000\n");
  WriteText(d + "/db/MANIFEST-000001", "manifest");
  WriteText(d + "/db/000003.log", "");
  absl::Status s = DataDir::Open(d, true).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            absl::StrCat("data directory ", d, " holds a half-created store: ", d,
                         "/db has files (000003.log, IDENTITY, LOCK, MANIFEST-000001) but no "
                         "CURRENT and no table or log data, so the creation of its RocksDB "
                         "database was interrupted before it held anything; empty ",
                         d, "/db and start kvd again"));

  WriteText(d + "/db/000003.log", "a record");
  WriteText(d + "/db/000005.sst", "a table");
  s = DataDir::Open(d, true).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StartsWith(
      s.message(), absl::StrCat("data directory ", d, " is damaged: ", d,
                                "/db holds RocksDB data (000003.log, 000005.sst) but no CURRENT "
                                "file, so the database cannot be opened; restore")))
      << s;

  WriteText(d + "/db/CURRENT", "MANIFEST-000001\n");
  absl::StatusOr<DataDir> dir = DataDir::Open(d, true);
  EXPECT_TRUE(dir.ok()) << dir.status();
}

// The store builds a new database in db.creating/ and renames it over the empty db/; a crash
// before the rename leaves both, which the store's open cleans up.
TEST_F(DataDirTest, AnInterruptedCreationInDbCreatingIsLeftToTheStore) {
  const std::string d = Initialized();
  ASSERT_TRUE(stdfs::create_directory(d + "/db.creating"));
  WriteText(d + "/db.creating/IDENTITY", "id\n");
  absl::StatusOr<DataDir> dir = DataDir::Open(d, true);
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_TRUE(stdfs::is_empty(d + "/db"));
  EXPECT_TRUE(stdfs::exists(d + "/db.creating/IDENTITY"));
}

TEST_F(DataDirTest, ANonEmptyDirectoryWithoutAVersionFileIsRefused) {
  ASSERT_TRUE(stdfs::create_directory(P("foreign")));
  WriteText(P("foreign/notes.txt"), "mine");
  absl::Status s = DataDir::Open(P("foreign"), true).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), "is not empty (it holds notes.txt)")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "it is not a kvd data directory")) << s;
  EXPECT_FALSE(stdfs::exists(P("foreign/kvd.lock"))) << "nothing is left in a foreign directory";

  const std::string d = Initialized();
  WriteText(d + "/wal/0000000000000001.wal", "x");
  stdfs::remove(d + "/kvd.version");
  s = DataDir::Open(d, true).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), "version file was lost")) << s;
}

TEST_F(DataDirTest, AnInterruptedInitializationIsCompleted) {
  ASSERT_TRUE(stdfs::create_directories(P("d/wal")));
  ASSERT_TRUE(stdfs::create_directories(P("d/db")));
  WriteText(P("d/kvd.lock"), "123\n");
  WriteText(P("d/kvd.version.tmp"), "kvd-data-");
  absl::StatusOr<DataDir> d = DataDir::Open(P("d"), true);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(stdfs::is_directory(d->snap_dir()));
  EXPECT_EQ(ReadText(P("d/kvd.version")), "kvd-data-dir-format: 1\n");
}

}  // namespace
}  // namespace kvd::storage
