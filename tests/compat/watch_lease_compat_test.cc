// Real clients on Watch and Lease: Debian's etcdctl (watch, lease, lock, elect) and the
// python3-etcd3 library drive a 3-member kvd cluster. Where the output is deterministic the same
// commands run against a 3-member Debian etcd 3.4 started with the same flags by the same
// harness, and the outputs must match once lease IDs (16 hex digits) are masked.
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/harness/cluster.h"
#include "tests/harness/subprocess.h"

namespace kvd::testing {
namespace {

constexpr char kEtcd[] = "/usr/bin/etcd";

// Masks what differs by nature between two clusters: 16-hex-digit IDs, the whole seconds a
// lease has left (checked separately), and the order of a lease's attached keys (etcd lists them
// in the order of a Go map, which varies from call to call).
std::string Mask(const std::string& text) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, "{\"level\":")) continue;  // client log lines
    out.append(line.data(), line.size());
    out.push_back('\n');
  }
  std::string masked;
  auto lower_hex = [](char ch) { return isdigit(ch) || (ch >= 'a' && ch <= 'f'); };
  for (size_t i = 0; i < out.size();) {
    size_t j = i;
    while (j < out.size() && lower_hex(out[j])) ++j;
    const bool alone = (i == 0 || !isalnum(static_cast<unsigned char>(out[i - 1]))) &&
                       (j == out.size() || !isalnum(static_cast<unsigned char>(out[j])));
    if (j - i == 16 && alone) {
      masked += "ID";
      i = j;
    } else if (out.compare(i, 10, "remaining(") == 0) {
      size_t k = i + 10;
      while (k < out.size() && isdigit(static_cast<unsigned char>(out[k]))) ++k;
      masked += "remaining(N";
      i = k;
    } else {
      masked += out[i++];
    }
  }
  const std::string kKeys = "attached keys([";
  for (size_t at = masked.find(kKeys); at != std::string::npos; at = masked.find(kKeys, at + 1)) {
    const size_t begin = at + kKeys.size();
    const size_t end = masked.find("])", begin);
    if (end == std::string::npos) break;
    std::vector<std::string> keys = absl::StrSplit(masked.substr(begin, end - begin), ' ');
    std::sort(keys.begin(), keys.end());
    masked.replace(begin, end - begin, absl::StrJoin(keys, " "));
  }
  return masked;
}

// The seconds remaining in etcdctl's "lease ... remaining(Ns)" line, or -1.
int RemainingSeconds(const std::string& text) {
  const size_t at = text.find("remaining(");
  if (at == std::string::npos) return -1;
  return std::atoi(text.c_str() + at + 10);
}

class WatchLeaseCompatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<Cluster>> kvd = Cluster::Start({});
    ASSERT_TRUE(kvd.ok()) << kvd.status();
    kvd_ = kvd->release();
    ClusterOptions etcd_options;
    etcd_options.kvd_binary = kEtcd;
    etcd_options.token = "etcd-compat";
    absl::StatusOr<std::unique_ptr<Cluster>> etcd = Cluster::Start(etcd_options);
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    etcd_ = etcd->release();
  }
  static void TearDownTestSuite() {
    delete kvd_;
    delete etcd_;
    kvd_ = etcd_ = nullptr;
  }

  static std::string Endpoints(const Cluster& c) { return absl::StrJoin(c.ClientEndpoints(), ","); }

  static std::vector<std::string> EtcdctlArgs(const Cluster& c, std::vector<std::string> args) {
    args.insert(args.begin(), {"etcdctl", "--endpoints=" + Endpoints(c), "--command-timeout=15s",
                               "--dial-timeout=5s"});
    return args;
  }

  static CommandResult Etcdctl(const Cluster& c, std::vector<std::string> args,
                               const std::string& input = "") {
    return RunCommand(EtcdctlArgs(c, std::move(args)), input, absl::Seconds(30),
                      {{"ETCDCTL_API", "3"}});
  }

  // Runs args on both clusters; expects the same masked outcome; returns kvd's and etcd's.
  static std::pair<CommandResult, CommandResult> Both(const std::vector<std::string>& kvd_args,
                                                      const std::vector<std::string>& etcd_args) {
    CommandResult k = Etcdctl(*kvd_, kvd_args);
    CommandResult e = Etcdctl(*etcd_, etcd_args);
    const std::string what = absl::StrJoin(kvd_args, " ");
    EXPECT_EQ(k.exit_code, e.exit_code) << what << "\nkvd: " << k.err << "\netcd: " << e.err;
    EXPECT_EQ(Mask(k.out), Mask(e.out)) << what;
    EXPECT_EQ(Mask(k.err), Mask(e.err)) << what;
    return {k, e};
  }
  static std::pair<CommandResult, CommandResult> Both(const std::vector<std::string>& args) {
    return Both(args, args);
  }

  // Runs `etcdctl watch args` against c until its output shows `last`, then stops it.
  static std::string WatchUntil(const Cluster& c, const std::vector<std::string>& args,
                                const std::string& last) {
    std::vector<std::string> watch = {"watch"};
    watch.insert(watch.end(), args.begin(), args.end());
    BackgroundCommand cmd(EtcdctlArgs(c, watch), {{"ETCDCTL_API", "3"}});
    EXPECT_TRUE(cmd.WaitForOutput(last)) << "watch output so far:\n" << cmd.out() << cmd.err();
    cmd.Signal(SIGKILL);
    cmd.Wait();
    return cmd.out();
  }

  static Cluster* kvd_;
  static Cluster* etcd_;
};

Cluster* WatchLeaseCompatTest::kvd_ = nullptr;
Cluster* WatchLeaseCompatTest::etcd_ = nullptr;

// The lease ID etcdctl printed ("lease <16 hex> granted with TTL(...)").
std::string LeaseIdOf(const std::string& grant_output) {
  const size_t at = grant_output.find(" granted with TTL(");
  if (at == std::string::npos || at < 22 || grant_output.compare(at - 22, 6, "lease ") != 0) {
    return "";
  }
  return grant_output.substr(at - 16, 16);
}

TEST_F(WatchLeaseCompatTest, EtcdctlWatchReplaysAndFollowsLikeEtcd) {
  ASSERT_NE(kvd_, nullptr);
  ASSERT_NE(etcd_, nullptr);
  // The same history on both, from their first revision.
  for (const auto& args : std::vector<std::vector<std::string>>{{"put", "fo/a", "1"},
                                                                {"put", "fo/b", "2"},
                                                                {"put", "fo/a", "3"},
                                                                {"put", "other", "x"},
                                                                {"del", "fo/b"},
                                                                {"put", "fo/end", "done"}}) {
    Both(args);
  }
  // Replay with previous values, from revision 1.
  const std::string k_replay =
      WatchUntil(*kvd_, {"--prefix", "fo/", "--rev=1", "--prev-kv"}, "done");
  const std::string e_replay =
      WatchUntil(*etcd_, {"--prefix", "fo/", "--rev=1", "--prev-kv"}, "done");
  EXPECT_EQ(k_replay, e_replay);
  EXPECT_NE(k_replay.find("PUT\nfo/a\n1\nfo/a\n3\n"), std::string::npos) << k_replay;
  EXPECT_NE(k_replay.find("DELETE\nfo/b\n2\nfo/b\n"), std::string::npos) << k_replay;
  // From a middle revision, one key.
  EXPECT_EQ(WatchUntil(*kvd_, {"fo/a", "--rev=3"}, "3"),
            WatchUntil(*etcd_, {"fo/a", "--rev=3"}, "3"));
  // Live: started before the writes (its start revision pins where it begins).
  for (Cluster* c : {kvd_, etcd_}) {
    BackgroundCommand live(EtcdctlArgs(*c, {"watch", "--prefix", "live/", "--rev=8"}),
                           {{"ETCDCTL_API", "3"}});
    EXPECT_EQ(Etcdctl(*c, {"put", "live/x", "1"}).exit_code, 0);
    EXPECT_EQ(Etcdctl(*c, {"txn"}, "\nput live/y 2\nput live/z 3\n\n\n").exit_code, 0);
    EXPECT_TRUE(live.WaitForOutput("live/z\n3\n")) << live.out() << live.err();
    EXPECT_EQ(live.out(), "PUT\nlive/x\n1\nPUT\nlive/y\n2\nPUT\nlive/z\n3\n");
  }
}

TEST_F(WatchLeaseCompatTest, EtcdctlLeaseCommandsBehaveAsOnEtcd) {
  ASSERT_NE(kvd_, nullptr);
  ASSERT_NE(etcd_, nullptr);
  auto [kg, eg] = Both({"lease", "grant", "60"});
  const std::string k_id = LeaseIdOf(kg.out);
  const std::string e_id = LeaseIdOf(eg.out);
  ASSERT_FALSE(k_id.empty()) << kg.out << kg.err;
  ASSERT_FALSE(e_id.empty()) << eg.out << eg.err;
  Both({"put", "--lease=" + k_id, "svc/a", "1"}, {"put", "--lease=" + e_id, "svc/a", "1"});
  Both({"put", "--lease=" + k_id, "svc/b", "1"}, {"put", "--lease=" + e_id, "svc/b", "1"});
  auto [kt, et] = Both({"lease", "timetolive", k_id}, {"lease", "timetolive", e_id});
  EXPECT_NE(kt.out.find("granted with TTL(60s), remaining("), std::string::npos) << kt.out;
  EXPECT_GE(RemainingSeconds(kt.out), 55) << kt.out;
  EXPECT_LE(RemainingSeconds(kt.out), 60) << kt.out;
  auto [kk, ek] =
      Both({"lease", "timetolive", "--keys", k_id}, {"lease", "timetolive", "--keys", e_id});
  EXPECT_NE(kk.out.find("attached keys([svc/a svc/b])"), std::string::npos) << kk.out;
  Both({"lease", "list"});
  Both({"lease", "keep-alive", "--once", k_id}, {"lease", "keep-alive", "--once", e_id});
  Both({"lease", "revoke", k_id}, {"lease", "revoke", e_id});
  EXPECT_EQ(Both({"get", "--prefix", "svc/"}).first.out, "");
  Both({"lease", "timetolive", k_id}, {"lease", "timetolive", e_id});
  auto [kr, er] = Both({"lease", "revoke", k_id}, {"lease", "revoke", e_id});
  EXPECT_NE(kr.err.find("etcdserver: requested lease not found"), std::string::npos) << kr.err;
  auto [kl, el] = Both({"lease", "grant", "9000000001"});
  EXPECT_NE(kl.err.find("etcdserver: too large lease TTL"), std::string::npos) << kl.err;
  // A TTL below the minimum is raised to it (1.5 election timeouts: 1 s with these flags).
  auto [km, em] = Both({"lease", "grant", "0"});
  EXPECT_NE(km.out.find("granted with TTL(1s)"), std::string::npos) << km.out;
}

TEST_F(WatchLeaseCompatTest, EtcdctlKeepAliveKeepsALeaseAlive) {
  ASSERT_NE(kvd_, nullptr);
  CommandResult grant = Etcdctl(*kvd_, {"lease", "grant", "2"});
  const std::string id = LeaseIdOf(grant.out);
  ASSERT_FALSE(id.empty()) << grant.out << grant.err;
  ASSERT_EQ(Etcdctl(*kvd_, {"put", "--lease=" + id, "ka/key", "v"}).exit_code, 0);
  BackgroundCommand keepalive(EtcdctlArgs(*kvd_, {"lease", "keep-alive", id}),
                              {{"ETCDCTL_API", "3"}});
  // etcdctl renews every TTL/3; five renewals span well over two TTLs.
  std::string needle;
  for (int i = 0; i < 5; ++i) needle += "lease " + id + " keepalived with TTL(2)\n";
  EXPECT_TRUE(keepalive.WaitForOutput(needle)) << keepalive.out() << keepalive.err();
  EXPECT_EQ(Etcdctl(*kvd_, {"get", "ka/key", "--print-value-only"}).out, "v\n");
  keepalive.Signal(SIGKILL);
  keepalive.Wait();
}

TEST_F(WatchLeaseCompatTest, EtcdctlLockHoldersNeverOverlap) {
  ASSERT_NE(kvd_, nullptr);
  const std::string log = kvd_->dir() + "/lock.log";
  std::vector<std::thread> lockers;
  std::vector<CommandResult> results(6);
  for (int i = 0; i < 6; ++i) {
    lockers.emplace_back([&, i] {
      const std::string cmd =
          absl::StrCat("echo start ", i, " >> ", log, "; sleep 0.2; echo end ", i, " >> ", log);
      results[i] = RunCommand(EtcdctlArgs(*kvd_, {"lock", "compat-lock", "--", "sh", "-c", cmd}),
                              "", absl::Seconds(60), {{"ETCDCTL_API", "3"}});
    });
  }
  for (auto& t : lockers) t.join();
  for (const CommandResult& r : results) EXPECT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 12u);
  for (size_t i = 0; i < lines.size(); i += 2) {
    ASSERT_TRUE(absl::StartsWith(lines[i], "start ")) << absl::StrJoin(lines, "\n");
    EXPECT_EQ(lines[i + 1], "end " + lines[i].substr(6)) << "holders overlap:\n"
                                                         << absl::StrJoin(lines, "\n");
  }
}

TEST_F(WatchLeaseCompatTest, EtcdctlElectHandsLeadershipOver) {
  ASSERT_NE(kvd_, nullptr);
  const std::map<std::string, std::string> env = {{"ETCDCTL_API", "3"}};
  BackgroundCommand observer(EtcdctlArgs(*kvd_, {"elect", "-l", "compat-election"}), env);
  BackgroundCommand p1(EtcdctlArgs(*kvd_, {"elect", "compat-election", "p1"}), env);
  ASSERT_TRUE(p1.WaitForOutput("\np1\n")) << p1.out() << p1.err();
  EXPECT_TRUE(absl::StartsWith(p1.out(), "compat-election/")) << p1.out();
  ASSERT_TRUE(observer.WaitForOutput("\np1\n")) << observer.out() << observer.err();
  BackgroundCommand p2(EtcdctlArgs(*kvd_, {"elect", "compat-election", "p2"}), env);
  EXPECT_FALSE(p2.WaitForOutput("p2", absl::Seconds(1))) << "two leaders at once";
  p1.Signal(SIGINT);  // resigns
  EXPECT_EQ(p1.Wait(), 0) << p1.err();
  ASSERT_TRUE(p2.WaitForOutput("\np2\n")) << p2.out() << p2.err();
  EXPECT_TRUE(observer.WaitForOutput("\np2\n")) << observer.out() << observer.err();
  p2.Signal(SIGINT);
  EXPECT_EQ(p2.Wait(), 0) << p2.err();
}

TEST_F(WatchLeaseCompatTest, PythonEtcd3LibraryWorksAsOnEtcd) {
  ASSERT_NE(kvd_, nullptr);
  ASSERT_NE(etcd_, nullptr);
  const std::string script = std::string(KVD_SOURCE_DIR) + "/tests/compat/etcd3_client_check.py";
  for (Cluster* c : {etcd_, kvd_}) {
    std::vector<std::string> argv = {"/usr/bin/python3", script};
    for (const std::string& ep : c->ClientEndpoints()) argv.push_back(ep);
    CommandResult r = RunCommand(argv, "", absl::Seconds(120));
    EXPECT_EQ(r.exit_code, 0) << (c == kvd_ ? "kvd" : "etcd") << ":\n" << r.out << r.err;
  }
}

}  // namespace
}  // namespace kvd::testing
