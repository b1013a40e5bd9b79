// What a user sees when kvd cannot start: one line on standard error that says what to fix, a
// non-zero exit, and nothing started.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/harness/cluster.h"
#include "tests/harness/subprocess.h"

namespace kvd::testing {
namespace {

class StartupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* build = std::getenv("KVD_BUILD_DIR");
    kvd_ = absl::StrCat(build != nullptr ? build : "build/release", "/server/kvd");
    char tmpl[] = "/tmp/kvd-startup-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ports_ = PickFreePorts(2);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Flags for a single member on fresh ports with its data in dir_.
  std::vector<std::string> Member(const std::string& data_dir) {
    return {kvd_,
            "--data-dir",
            data_dir,
            "--listen-client-urls",
            absl::StrCat("http://127.0.0.1:", ports_[0]),
            "--listen-peer-urls",
            absl::StrCat("http://127.0.0.1:", ports_[1])};
  }

  // The last non-empty line of standard error.
  static std::string LastLine(const std::string& err) {
    std::string last;
    for (absl::string_view line : absl::StrSplit(err, '\n')) {
      if (!line.empty()) last = std::string(line);
    }
    return last;
  }

  std::string kvd_;
  std::string dir_;
  std::vector<int> ports_;
};

TEST_F(StartupTest, VersionAndHelp) {
  CommandResult version = RunCommand({kvd_, "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("kvd version ", 0), 0u) << version.out;
  CommandResult help = RunCommand({kvd_, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--listen-client-urls"), std::string::npos);
}

TEST_F(StartupTest, ClientPortInUse) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(ports_[0]);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  CommandResult r = RunCommand(Member(dir_ + "/m.kvd"));
  close(fd);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(LastLine(r.err).find(absl::StrCat("--listen-client-urls: cannot listen on "
                                              "http://127.0.0.1:",
                                              ports_[0])),
            std::string::npos)
      << r.err;
}

TEST_F(StartupTest, NameMissingFromInitialCluster) {
  CommandResult r = RunCommand({kvd_, "--name", "infra4", "--initial-cluster",
                                "infra1=http://127.0.0.1:1,infra2=http://127.0.0.1:2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(LastLine(r.err),
            "kvd: --initial-cluster: has no member named 'infra4' (this member's --name); add "
            "infra4=<peer URL> to it or fix --name");
}

TEST_F(StartupTest, MalformedUrlFromTheEnvironment) {
  CommandResult r =
      RunCommand({kvd_}, "", absl::Seconds(30), {{"KVD_LISTEN_CLIENT_URLS", "127.0.0.1:2379"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(LastLine(r.err).find("--listen-client-urls: '127.0.0.1:2379' is not a URL"),
            std::string::npos)
      << r.err;
}

TEST_F(StartupTest, DataDirThatIsAFile) {
  const std::string file = dir_ + "/not-a-dir";
  std::ofstream(file) << "x";
  CommandResult r = RunCommand(Member(file));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(LastLine(r.err).find(file), std::string::npos) << r.err;
  EXPECT_NE(LastLine(r.err).find("not a directory"), std::string::npos) << r.err;
}

TEST_F(StartupTest, DataDirOfAnotherFormatVersion) {
  const std::string data = dir_ + "/m.kvd";
  std::filesystem::create_directories(data);
  std::ofstream(data + "/kvd.version") << "kvd-data-dir-format: 99\n";
  CommandResult r = RunCommand(Member(data));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(LastLine(r.err).find("99"), std::string::npos) << r.err;
}

TEST_F(StartupTest, TwoMembersOnOneDataDirectory) {
  ClusterOptions options;
  options.size = 1;
  absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Start(options);
  ASSERT_TRUE(c.ok()) << c.status();
  std::vector<int> other = PickFreePorts(2);
  CommandResult r = RunCommand({kvd_, "--name", "m1", "--data-dir", (*c)->member(0).data_dir,
                                "--listen-client-urls", absl::StrCat("http://127.0.0.1:", other[0]),
                                "--listen-peer-urls", absl::StrCat("http://127.0.0.1:", other[1])});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(LastLine(r.err).find("lock"), std::string::npos) << r.err;
  // The running member was not disturbed.
  EXPECT_TRUE((*c)->Status(0).ok());
}

TEST_F(StartupTest, StoreWithoutItsWalIsRefused) {
  ClusterOptions options;
  options.size = 1;
  absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Start(options);
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string data = (*c)->member(0).data_dir;
  ASSERT_TRUE((*c)->Stop(0).ok());
  std::filesystem::remove_all(data + "/wal");
  std::filesystem::create_directories(data + "/wal");
  CommandResult r = RunCommand({kvd_, "--name", "m1", "--data-dir", data});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(LastLine(r.err).find("no WAL"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kvd::testing
