// Debian's etcdctl (3.4) drives a 3-member kvd cluster. The same command sequence also runs
// against a real etcd started by the test, and the outputs must match once the values that
// differ by nature (member and cluster IDs, Raft terms and indexes) are masked: same output,
// same errors, same revisions.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "tests/harness/cluster.h"
#include "tests/harness/subprocess.h"

namespace kvd::testing {
namespace {

constexpr int kMaxRequestBytes = 65536;

struct Step {
  std::vector<std::string> args;
  std::string input;
};

// Replaces the digits after each of `fields` ("cluster_id":123) with N.
std::string MaskJsonNumbers(const std::string& text, const std::vector<std::string>& fields) {
  std::string out = text;
  for (const std::string& field : fields) {
    const std::string needle = "\"" + field + "\":";
    for (size_t at = out.find(needle); at != std::string::npos;
         at = out.find(needle, at + needle.size())) {
      const size_t digits = at + needle.size();
      size_t end = digits;
      while (end < out.size() && isdigit(static_cast<unsigned char>(out[end]))) ++end;
      out.replace(digits, end - digits, "N");
    }
  }
  return out;
}

// Masks what differs between any two clusters by nature: member and cluster IDs (16 hex digits
// in text output, numbers in JSON) and Raft terms.
// Client-side log lines (etcdctl's JSON warnings, with timestamps and client UUIDs) are dropped.
std::string Mask(const std::string& text) {
  std::string kept;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, "{\"level\":")) continue;
    kept.append(line.data(), line.size());
    kept.push_back('\n');
  }
  std::string out = MaskJsonNumbers(kept, {"cluster_id", "member_id", "raft_term"});
  std::string masked;
  size_t i = 0;
  while (i < out.size()) {
    size_t j = i;
    while (j < out.size() && isxdigit(static_cast<unsigned char>(out[j])) &&
           !isupper(static_cast<unsigned char>(out[j]))) {
      ++j;
    }
    const bool boundary_before = i == 0 || !isalnum(static_cast<unsigned char>(out[i - 1]));
    const bool boundary_after = j == out.size() || !isalnum(static_cast<unsigned char>(out[j]));
    if (j - i == 16 && boundary_before && boundary_after) {
      masked += "ID";
      i = j;
    } else {
      masked += out[i];
      ++i;
    }
  }
  return masked;
}

// The numbers after every "field": in JSON text.
std::vector<std::string> JsonNumbers(const std::string& text, const std::string& field) {
  std::vector<std::string> out;
  const std::string needle = "\"" + field + "\":";
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    size_t end = at + needle.size();
    while (end < text.size() && isdigit(static_cast<unsigned char>(text[end]))) ++end;
    out.push_back(text.substr(at + needle.size(), end - at - needle.size()));
  }
  return out;
}

class EtcdctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ClusterOptions options;
    options.extra_flags = {"--max-request-bytes", absl::StrCat(kMaxRequestBytes)};
    absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Start(options);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = c->release();
    StartEtcd();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    if (etcd_pid_ > 0) {
      kill(etcd_pid_, SIGKILL);
      waitpid(etcd_pid_, nullptr, 0);
    }
    if (!etcd_dir_.empty()) RunCommand({"rm", "-rf", etcd_dir_});
  }

  static void StartEtcd() {
    char tmpl[] = "/tmp/kvd-compat-etcd-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    etcd_dir_ = tmpl;
    const std::vector<int> ports = PickFreePorts(2);
    etcd_endpoint_ = absl::StrCat("127.0.0.1:", ports[0]);
    const std::string peer = absl::StrCat("http://127.0.0.1:", ports[1]);
    etcd_pid_ = fork();
    if (etcd_pid_ == 0) {
      const std::string log = etcd_dir_ + "/etcd.log";
      freopen(log.c_str(), "w", stdout);
      freopen(log.c_str(), "a", stderr);
      execlp("etcd", "etcd", "--name", "e1", "--data-dir", (etcd_dir_ + "/data").c_str(),
             "--listen-client-urls", ("http://" + etcd_endpoint_).c_str(),
             "--advertise-client-urls", ("http://" + etcd_endpoint_).c_str(), "--listen-peer-urls",
             peer.c_str(), "--initial-advertise-peer-urls", peer.c_str(), "--initial-cluster",
             ("e1=" + peer).c_str(), "--max-request-bytes", absl::StrCat(kMaxRequestBytes).c_str(),
             nullptr);
      _exit(127);
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (Etcdctl(etcd_endpoint_, {"endpoint", "health"}).exit_code != 0) {
      ASSERT_LT(absl::Now(), deadline) << "etcd did not start";
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  static CommandResult Etcdctl(const std::string& endpoints, std::vector<std::string> args,
                               const std::string& input = "") {
    args.insert(args.begin(), {"etcdctl", "--endpoints=" + endpoints, "--command-timeout=10s",
                               "--dial-timeout=5s"});
    return RunCommand(args, input, absl::Seconds(30), {{"ETCDCTL_API", "3"}});
  }

  static std::string KvdEndpoints() { return absl::StrJoin(cluster_->ClientEndpoints(), ","); }

  static CommandResult Kvd(std::vector<std::string> args, const std::string& input = "") {
    return Etcdctl(KvdEndpoints(), std::move(args), input);
  }

  // Runs a step against both and expects the same masked outcome; returns kvd's result.
  static CommandResult Both(const Step& step) {
    CommandResult kvd = Kvd(step.args, step.input);
    CommandResult etcd = Etcdctl(etcd_endpoint_, step.args, step.input);
    const std::string what = absl::StrJoin(step.args, " ");
    EXPECT_EQ(kvd.exit_code, etcd.exit_code)
        << what << "\nkvd: " << kvd.err << "\netcd: " << etcd.err;
    EXPECT_EQ(Mask(kvd.out), Mask(etcd.out)) << what;
    EXPECT_EQ(Mask(kvd.err), Mask(etcd.err)) << what;
    return kvd;
  }

  static Cluster* cluster_;
  static pid_t etcd_pid_;
  static std::string etcd_dir_;
  static std::string etcd_endpoint_;
};

Cluster* EtcdctlTest::cluster_ = nullptr;
pid_t EtcdctlTest::etcd_pid_ = -1;
std::string EtcdctlTest::etcd_dir_;
std::string EtcdctlTest::etcd_endpoint_;

// One sequence, in order: revisions depend on it.
TEST_F(EtcdctlTest, KeyValueCommandsBehaveAsOnEtcd) {
  ASSERT_NE(cluster_, nullptr);
  EXPECT_EQ(Both({{"put", "foo", "bar"}}).out, "OK\n");
  Both({{"put", "foo2", "bar2"}});
  Both({{"put", "fop", "x"}});
  Both({{"put", "zoo", "z"}});
  EXPECT_EQ(Both({{"get", "foo"}}).out, "foo\nbar\n");
  EXPECT_EQ(Both({{"get", "--prefix", "fo"}}).out, "foo\nbar\nfoo2\nbar2\nfop\nx\n");
  EXPECT_EQ(Both({{"get", "foo", "zoo"}}).out, "foo\nbar\nfoo2\nbar2\nfop\nx\n");
  EXPECT_EQ(Both({{"get", "--prefix", "fo", "--limit", "2"}}).out, "foo\nbar\nfoo2\nbar2\n");
  Both({{"get", "--from-key", "fop"}});
  Both({{"get", "--prefix", "fo", "--keys-only"}});
  Both({{"get", "--prefix", "fo", "--sort-by=VALUE", "--order=DESCEND"}});
  Both({{"get", "--prefix", "fo", "--sort-by=MODIFY", "--order=ASCEND", "--limit=2"}});
  EXPECT_EQ(Both({{"put", "foo", "baz", "--prev-kv"}}).out, "OK\nfoo\nbar\n");
  EXPECT_EQ(Both({{"get", "foo", "--rev=2"}}).out, "foo\nbar\n");
  EXPECT_EQ(Both({{"get", "foo", "--print-value-only"}}).out, "baz\n");
  Both({{"get", "foo", "-w", "json"}});
  Both({{"get", "--prefix", "fo", "--count-only", "-w", "json"}});
  Both({{"txn"}, "value(\"zoo\") = \"z\"\n\nput zoo z2\nget zoo\n\nput nope x\n\n"});
  Both({{"txn"}, "mod(\"zoo\") < \"3\"\n\nput a 1\n\nput b 2\nget zoo\n\n"});
  EXPECT_EQ(Both({{"del", "--prefix", "fo", "--prev-kv"}}).out.substr(0, 2), "3\n");
  EXPECT_EQ(Both({{"del", "nothing-here"}}).out, "0\n");
  EXPECT_EQ(Both({{"compaction", "5"}}).out, "compacted revision 5\n");
  CommandResult compacted = Both({{"get", "foo", "--rev=3"}});
  EXPECT_NE(compacted.err.find("etcdserver: mvcc: required revision has been compacted"),
            std::string::npos);
  CommandResult future = Both({{"get", "foo", "--rev=100000"}});
  EXPECT_NE(future.err.find("etcdserver: mvcc: required revision is a future revision"),
            std::string::npos);
  Both({{"compaction", "4"}});
  CommandResult lease = Both({{"put", "leased", "v", "--lease=1234"}});
  EXPECT_NE(lease.err.find("etcdserver: requested lease not found"), std::string::npos);
  std::string many;
  for (int i = 0; i < 129; ++i) many += absl::StrCat("put k", i, " v\n");
  CommandResult too_many = Both({{"txn"}, "\n" + many + "\n\n"});
  EXPECT_NE(too_many.err.find("etcdserver: too many operations in txn request"), std::string::npos);
  CommandResult duplicate = Both({{"txn"}, "\nput d 1\nput d 2\n\n\n"});
  EXPECT_NE(duplicate.err.find("etcdserver: duplicate key given in txn request"),
            std::string::npos);
  CommandResult large = Both({{"put", "big"}, std::string(kMaxRequestBytes + 1024, 'x')});
  EXPECT_NE(large.err.find("etcdserver: request is too large"), std::string::npos);
  // None of the refused requests changed anything: the revision is where the accepted ones
  // left it, on both.
  Both({{"get", "zoo", "-w", "json"}});
}

TEST_F(EtcdctlTest, EndpointAndMemberCommands) {
  ASSERT_NE(cluster_, nullptr);
  CommandResult health = Kvd({"endpoint", "health"});
  EXPECT_EQ(health.exit_code, 0) << health.err;
  for (const std::string& ep : cluster_->ClientEndpoints()) {
    // etcdctl 3.4 reports health on standard error.
    EXPECT_NE((health.out + health.err).find(ep + " is healthy"), std::string::npos)
        << health.out << health.err;
  }
  CommandResult status = Kvd({"endpoint", "status", "-w", "table"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  size_t leaders = 0;
  for (absl::string_view line : absl::StrSplit(status.out, '\n')) {
    // | ENDPOINT | ID | VERSION | DB SIZE | IS LEADER | ...
    std::vector<std::string> cells = absl::StrSplit(line, '|');
    if (cells.size() > 5 && absl::StrContains(cells[1], "127.0.0.1") &&
        absl::StripAsciiWhitespace(cells[5]) == "true") {
      ++leaders;
    }
  }
  EXPECT_EQ(leaders, 1u) << status.out;
  // Every member reports the same hash of the same history (once all have applied it).
  std::vector<std::string> seen;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  do {
    CommandResult hashes = Kvd({"endpoint", "hashkv", "-w", "json"});
    ASSERT_EQ(hashes.exit_code, 0) << hashes.err;
    seen = JsonNumbers(hashes.out, "hash");
  } while ((seen.size() != 3 || std::set<std::string>(seen.begin(), seen.end()).size() != 1) &&
           absl::Now() < deadline);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 1u);
  CommandResult members = Kvd({"member", "list"});
  EXPECT_EQ(members.exit_code, 0) << members.err;
  for (int i = 0; i < cluster_->size(); ++i) {
    EXPECT_NE(members.out.find(absl::StrCat(", started, m", i + 1,
                                            ", http://127.0.0.1:", cluster_->member(i).peer_port)),
              std::string::npos)
        << members.out;
  }
}

}  // namespace
}  // namespace kvd::testing
