#include "server/config.h"

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kvd::server {
namespace {

// A fake environment for one test at a time.
std::map<std::string, std::string>* g_env = nullptr;
std::optional<std::string> FakeEnv(const char* name) {
  if (g_env == nullptr) return std::nullopt;
  auto it = g_env->find(name);
  if (it == g_env->end()) return std::nullopt;
  return it->second;
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { g_env = &env_; }
  void TearDown() override { g_env = nullptr; }

  absl::StatusOr<ParsedCommandLine> Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "kvd");
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    return ParseCommandLine(static_cast<int>(argv.size()), argv.data(), FakeEnv);
  }

  ServerConfig ParseOk(std::vector<std::string> args) {
    absl::StatusOr<ParsedCommandLine> parsed = Parse(std::move(args));
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (!parsed.ok() || !parsed->config) return {};
    return *parsed->config;
  }

  std::string ParseError(std::vector<std::string> args) {
    absl::StatusOr<ParsedCommandLine> parsed = Parse(std::move(args));
    EXPECT_FALSE(parsed.ok());
    return parsed.ok() ? "" : std::string(parsed.status().message());
  }

  std::string WriteFile(const std::string& text) {
    std::string path = ::testing::TempDir() + "/kvd-config-test.yaml";
    std::ofstream(path) << text;
    return path;
  }

  std::map<std::string, std::string> env_;
};

TEST_F(ConfigTest, NoFlagsIsASingleMemberOnLoopback) {
  ServerConfig c = ParseOk({});
  EXPECT_EQ(c.name, "default");
  EXPECT_EQ(c.data_dir, "default.kvd");
  ASSERT_EQ(c.listen_client_urls.size(), 1u);
  EXPECT_EQ(c.listen_client_urls[0].ToString(), "http://127.0.0.1:2379");
  EXPECT_EQ(c.advertise_client_urls, c.listen_client_urls);
  EXPECT_EQ(c.listen_peer_urls[0].ToString(), "http://127.0.0.1:2380");
  ASSERT_EQ(c.initial_cluster.size(), 1u);
  EXPECT_EQ(c.initial_cluster.at("default")[0].ToString(), "http://127.0.0.1:2380");
  EXPECT_EQ(c.heartbeat_interval_ms, 100);
  EXPECT_EQ(c.election_timeout_ms, 1000);
  EXPECT_EQ(c.max_request_bytes, 1572864);
}

TEST_F(ConfigTest, ThreeMemberFlagsAsEtcdTakesThem) {
  ServerConfig c = ParseOk({"--name",
                            "infra2",
                            "--data-dir",
                            "/var/lib/kvd",
                            "--listen-client-urls",
                            "http://127.0.0.1:22379",
                            "--advertise-client-urls",
                            "http://127.0.0.1:22379",
                            "--listen-peer-urls",
                            "http://127.0.0.1:22380",
                            "--initial-advertise-peer-urls",
                            "http://127.0.0.1:22380",
                            "--initial-cluster",
                            "infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380,"
                            "infra3=http://127.0.0.1:32380",
                            "--initial-cluster-state",
                            "new",
                            "--initial-cluster-token",
                            "tok",
                            "--heartbeat-interval",
                            "50",
                            "--election-timeout",
                            "500",
                            "--snapshot-count",
                            "1000",
                            "--log-level",
                            "debug"});
  EXPECT_EQ(c.name, "infra2");
  EXPECT_EQ(c.data_dir, "/var/lib/kvd");
  EXPECT_EQ(c.initial_cluster.size(), 3u);
  EXPECT_EQ(c.initial_cluster.at("infra3")[0].port, 32380);
  EXPECT_EQ(c.initial_cluster_token, "tok");
  EXPECT_EQ(c.heartbeat_interval_ms, 50);
  EXPECT_EQ(c.election_timeout_ms, 500);
  EXPECT_EQ(c.snapshot_count, 1000u);
  EXPECT_EQ(c.log_level, "debug");
}

TEST_F(ConfigTest, EqualsSignFormWorks) {
  ServerConfig c = ParseOk({"--name=n1", "--initial-cluster=n1=http://127.0.0.1:2380"});
  EXPECT_EQ(c.name, "n1");
  EXPECT_EQ(c.data_dir, "n1.kvd");
}

TEST_F(ConfigTest, NameWithoutInitialClusterDefaultsToItself) {
  ServerConfig c = ParseOk({"--name", "solo"});
  ASSERT_TRUE(c.initial_cluster.contains("solo"));
}

TEST_F(ConfigTest, EnvironmentFillsWhatFlagsLeaveOut) {
  env_["KVD_DATA_DIR"] = "/from/env";
  env_["KVD_SNAPSHOT_COUNT"] = "77";
  env_["KVD_NAME"] = "envname";
  ServerConfig c = ParseOk({"--name", "flagname"});
  EXPECT_EQ(c.name, "flagname");  // the flag wins
  EXPECT_EQ(c.data_dir, "/from/env");
  EXPECT_EQ(c.snapshot_count, 77u);
}

TEST_F(ConfigTest, ConfigFileIsLowestPrecedence) {
  const std::string path = WriteFile(
      "name: fromfile\n"
      "data-dir: /from/file\n"
      "listen-client-urls:\n"
      "  - http://127.0.0.1:3379\n"
      "  - http://127.0.0.1:4379\n"
      "heartbeat-interval: 20\n"
      "election-timeout: 200\n");
  env_["KVD_DATA_DIR"] = "/from/env";
  ServerConfig c = ParseOk({"--config-file", path, "--heartbeat-interval", "30"});
  EXPECT_EQ(c.name, "fromfile");
  EXPECT_EQ(c.data_dir, "/from/env");
  ASSERT_EQ(c.listen_client_urls.size(), 2u);
  EXPECT_EQ(c.listen_client_urls[1].port, 4379);
  EXPECT_EQ(c.heartbeat_interval_ms, 30);
  EXPECT_EQ(c.election_timeout_ms, 200);
}

TEST_F(ConfigTest, ConfigFileErrorsNameTheProblem) {
  EXPECT_NE(ParseError({"--config-file", "/nonexistent/kvd.yaml"}).find("cannot read"),
            std::string::npos);
  EXPECT_NE(ParseError({"--config-file", WriteFile("bogus-setting: 1\n")})
                .find("unknown setting 'bogus-setting'"),
            std::string::npos);
  EXPECT_NE(ParseError({"--config-file", WriteFile("name: [unclosed\n")}).find("not valid YAML"),
            std::string::npos);
}

TEST_F(ConfigTest, NameMissingFromInitialCluster) {
  const std::string err =
      ParseError({"--name", "infra4", "--initial-cluster", "infra1=http://127.0.0.1:12380"});
  EXPECT_NE(err.find("--initial-cluster"), std::string::npos) << err;
  EXPECT_NE(err.find("'infra4'"), std::string::npos) << err;
}

TEST_F(ConfigTest, MalformedUrlsAreRefused) {
  EXPECT_NE(ParseError({"--listen-client-urls", "127.0.0.1:2379"}).find("http://host:port"),
            std::string::npos);
  EXPECT_NE(ParseError({"--listen-client-urls", "http://127.0.0.1"}).find("no port"),
            std::string::npos);
  EXPECT_NE(ParseError({"--listen-client-urls", "http://127.0.0.1:99999"}).find("valid port"),
            std::string::npos);
  EXPECT_NE(ParseError({"--listen-client-urls", "https://127.0.0.1:2379"}).find("TLS"),
            std::string::npos);
  EXPECT_NE(ParseError({"--initial-cluster", "justaname"}).find("name=http://host:port"),
            std::string::npos);
}

TEST_F(ConfigTest, BadNumbersAndChoicesAreRefused) {
  EXPECT_NE(ParseError({"--snapshot-count", "many"}).find("not a whole number"), std::string::npos);
  EXPECT_NE(ParseError({"--snapshot-count", "0"}).find("at least 1"), std::string::npos);
  EXPECT_NE(ParseError({"--initial-cluster-state", "old"}).find("neither"), std::string::npos);
  EXPECT_NE(ParseError({"--log-level", "loud"}).find("debug, info, warn, error"),
            std::string::npos);
  EXPECT_NE(ParseError({"--heartbeat-interval", "300"}).find("at least 5 times"),
            std::string::npos);
  EXPECT_NE(ParseError({"--no-such-flag"}).find("--no-such-flag"), std::string::npos);
}

TEST_F(ConfigTest, AdvertisedPeerUrlsMustMatchInitialCluster) {
  const std::string err =
      ParseError({"--name", "a", "--initial-advertise-peer-urls", "http://127.0.0.1:5000",
                  "--initial-cluster", "a=http://127.0.0.1:6000"});
  EXPECT_NE(err.find("make them equal"), std::string::npos) << err;
}

TEST_F(ConfigTest, DuplicatePeerUrlsAcrossMembers) {
  const std::string err =
      ParseError({"--name", "a", "--initial-advertise-peer-urls", "http://127.0.0.1:6000",
                  "--initial-cluster", "a=http://127.0.0.1:6000,b=http://127.0.0.1:6000"});
  EXPECT_NE(err.find("share the peer URL"), std::string::npos) << err;
}

TEST_F(ConfigTest, HelpAndVersionPrintAndExit) {
  absl::StatusOr<ParsedCommandLine> help = Parse({"--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_FALSE(help->config.has_value());
  EXPECT_NE(help->exit_message.find("--initial-cluster"), std::string::npos);
  EXPECT_NE(help->exit_message.find("KVD_"), std::string::npos);
  absl::StatusOr<ParsedCommandLine> version = Parse({"--version"});
  ASSERT_TRUE(version.ok());
  EXPECT_NE(version->exit_message.find("kvd version"), std::string::npos);
}

TEST(UrlTest, ParsesHostsAndPorts) {
  absl::StatusOr<Url> v4 = Url::Parse("http://10.0.0.1:2379");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->HostPort(), "10.0.0.1:2379");
  absl::StatusOr<Url> v6 = Url::Parse("http://[::1]:2380/");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "[::1]");
  EXPECT_EQ(v6->ToString(), "http://[::1]:2380");
  absl::StatusOr<Url> name = Url::Parse("http://localhost:1");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->port, 1);
}

}  // namespace
}  // namespace kvd::server
