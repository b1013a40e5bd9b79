#include "tests/harness/cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/grpcpp.h"

namespace kvd::testing {
namespace {

namespace fs = std::filesystem;

std::string DefaultBinary() {
  const char* build = std::getenv("KVD_BUILD_DIR");
  return absl::StrCat(build != nullptr ? build : "build/release", "/server/kvd");
}

bool KeepRequested() {
  const char* keep = std::getenv("KVD_KEEP_CLUSTER");
  return keep != nullptr && std::string(keep) == "1";
}

// Polls cond every few milliseconds until it holds or the deadline passes.
template <typename Cond>
bool WaitFor(absl::Duration timeout, Cond cond) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (cond()) return true;
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

std::vector<int> PickFreePorts(int n) {
  std::vector<int> ports;
  std::vector<int> fds;
  while (static_cast<int>(ports.size()) < n) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      std::abort();
    }
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ports.push_back(ntohs(addr.sin_port));
    fds.push_back(fd);  // held open until all are picked, so they are distinct
  }
  for (int fd : fds) close(fd);
  return ports;
}

Cluster::Cluster(ClusterOptions options, std::string dir)
    : options_(std::move(options)), dir_(std::move(dir)) {}

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::Start(ClusterOptions options) {
  if (options.kvd_binary.empty()) options.kvd_binary = DefaultBinary();
  if (access(options.kvd_binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("no kvd binary at ", options.kvd_binary, " (set KVD_BUILD_DIR)"));
  }
  std::string tmpl = (fs::temp_directory_path() / "kvd-cluster-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError("cannot create a temporary directory");
  }
  std::unique_ptr<Cluster> c(new Cluster(std::move(options), tmpl));
  const std::vector<int> ports = PickFreePorts(2 * c->options_.size);
  std::vector<std::string> entries;
  for (int i = 0; i < c->options_.size; ++i) {
    MemberInfo m;
    m.name = absl::StrCat("m", i + 1);
    m.client_port = ports[2 * i];
    m.peer_port = ports[2 * i + 1];
    m.data_dir = absl::StrCat(c->dir_, "/", m.name, ".kvd");
    m.log_path = absl::StrCat(c->dir_, "/", m.name, ".log");
    entries.push_back(absl::StrCat(m.name, "=http://127.0.0.1:", m.peer_port));
    c->members_.push_back(std::move(m));
  }
  c->initial_cluster_ = absl::StrJoin(entries, ",");
  for (int i = 0; i < c->size(); ++i) {
    if (absl::Status st = c->Launch(i); !st.ok()) return st;
  }
  absl::StatusOr<int> leader = c->WaitForLeader(c->options_.start_timeout);
  if (!leader.ok()) {
    std::string logs;
    for (int i = 0; i < c->size(); ++i)
      logs += absl::StrCat("\n--- ", c->members_[i].name, " ---\n", c->LogTail(i));
    return absl::DeadlineExceededError(
        absl::StrCat("cluster did not elect a leader: ", leader.status().message(), logs));
  }
  return c;
}

Cluster::~Cluster() {
  for (int i = 0; i < size(); ++i) {
    if (members_[i].pid > 0) Kill(i);
  }
  if (!options_.keep && !KeepRequested()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  } else {
    fprintf(stderr, "cluster kept in %s\n", dir_.c_str());
  }
}

std::vector<std::string> Cluster::Args(int i) const {
  const MemberInfo& m = members_[i];
  const std::string client = absl::StrCat("http://127.0.0.1:", m.client_port);
  const std::string peer = absl::StrCat("http://127.0.0.1:", m.peer_port);
  std::vector<std::string> args = {
      options_.kvd_binary,
      "--name",
      m.name,
      "--data-dir",
      m.data_dir,
      "--listen-client-urls",
      client,
      "--advertise-client-urls",
      client,
      "--listen-peer-urls",
      peer,
      "--initial-advertise-peer-urls",
      peer,
      "--initial-cluster",
      initial_cluster_,
      "--initial-cluster-token",
      options_.token,
      "--initial-cluster-state",
      "new",
      "--heartbeat-interval",
      absl::StrCat(options_.heartbeat_interval_ms),
      "--election-timeout",
      absl::StrCat(options_.election_timeout_ms),
      "--snapshot-count",
      absl::StrCat(options_.snapshot_count),
  };
  args.insert(args.end(), options_.extra_flags.begin(), options_.extra_flags.end());
  return args;
}

absl::Status Cluster::Launch(int i) {
  MemberInfo& m = members_[i];
  const std::vector<std::string> args = Args(i);
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int log = open(m.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return absl::InternalError(absl::StrCat("cannot open ", m.log_path));
  const pid_t pid = fork();
  if (pid < 0) {
    close(log);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    // Members die with the test process, whatever ends it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log);
  m.pid = pid;
  m.paused = false;
  return absl::OkStatus();
}

std::string Cluster::ClientEndpoint(int i) const {
  return absl::StrCat("127.0.0.1:", members_[i].client_port);
}

std::vector<std::string> Cluster::ClientEndpoints() const {
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) out.push_back(ClientEndpoint(i));
  return out;
}

std::unique_ptr<etcdserverpb::KV::Stub> Cluster::KV(int i) const {
  return etcdserverpb::KV::NewStub(
      grpc::CreateChannel(ClientEndpoint(i), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<etcdserverpb::Maintenance::Stub> Cluster::Maintenance(int i) const {
  return etcdserverpb::Maintenance::NewStub(
      grpc::CreateChannel(ClientEndpoint(i), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<etcdserverpb::Cluster::Stub> Cluster::ClusterApi(int i) const {
  return etcdserverpb::Cluster::NewStub(
      grpc::CreateChannel(ClientEndpoint(i), grpc::InsecureChannelCredentials()));
}

absl::StatusOr<etcdserverpb::StatusResponse> Cluster::Status(int i) const {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  etcdserverpb::StatusResponse resp;
  grpc::Status st = Maintenance(i)->Status(&ctx, etcdserverpb::StatusRequest(), &resp);
  if (!st.ok()) {
    return absl::UnavailableError(absl::StrCat(members_[i].name, ": ", st.error_message()));
  }
  return resp;
}

absl::StatusOr<int> Cluster::WaitForLeader(absl::Duration timeout) {
  std::string last_problem = "no member answered";
  int leader_index = -1;
  const bool found = WaitFor(timeout, [&] {
    std::set<uint64_t> leaders;
    bool all_answered = true;
    for (int i = 0; i < size(); ++i) {
      if (members_[i].pid <= 0 || members_[i].paused) continue;
      absl::StatusOr<etcdserverpb::StatusResponse> s = Status(i);
      if (!s.ok()) {
        all_answered = false;
        last_problem = std::string(s.status().message());
        continue;
      }
      members_[i].id = s->header().member_id();
      leaders.insert(s->leader());
    }
    if (!all_answered) return false;
    if (leaders.size() != 1 || *leaders.begin() == 0) {
      last_problem = "members do not agree on a leader yet";
      return false;
    }
    for (int i = 0; i < size(); ++i) {
      if (members_[i].id == *leaders.begin() && members_[i].pid > 0 && !members_[i].paused) {
        leader_index = i;
        return true;
      }
    }
    last_problem = "the leader the members name is not a running member";
    return false;
  });
  if (!found) return absl::DeadlineExceededError(last_problem);
  return leader_index;
}

void Cluster::Kill(int i) {
  MemberInfo& m = members_[i];
  if (m.pid <= 0) return;
  kill(m.pid, SIGKILL);
  waitpid(m.pid, nullptr, 0);
  m.pid = -1;
  m.paused = false;
}

absl::StatusOr<int> Cluster::Stop(int i) {
  MemberInfo& m = members_[i];
  if (m.pid <= 0) return absl::FailedPreconditionError("member is not running");
  if (m.paused) Resume(i);
  kill(m.pid, SIGTERM);
  int status = 0;
  const bool exited =
      WaitFor(absl::Seconds(20), [&] { return waitpid(m.pid, &status, WNOHANG) == m.pid; });
  if (!exited) {
    Kill(i);
    return absl::DeadlineExceededError(
        absl::StrCat(m.name, " did not exit within 20 s of SIGTERM"));
  }
  m.pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

absl::StatusOr<int> Cluster::WaitExit(int i, absl::Duration timeout) {
  MemberInfo& m = members_[i];
  if (m.pid <= 0) return absl::FailedPreconditionError("member is not running");
  int status = 0;
  if (!WaitFor(timeout, [&] { return waitpid(m.pid, &status, WNOHANG) == m.pid; })) {
    return absl::DeadlineExceededError(absl::StrCat(m.name, " is still running"));
  }
  m.pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void Cluster::Pause(int i) {
  if (members_[i].pid <= 0) return;
  kill(members_[i].pid, SIGSTOP);
  members_[i].paused = true;
}

void Cluster::Resume(int i) {
  if (members_[i].pid <= 0) return;
  kill(members_[i].pid, SIGCONT);
  members_[i].paused = false;
}

absl::Status Cluster::Restart(int i) {
  if (members_[i].pid > 0) return absl::FailedPreconditionError("member is still running");
  return Launch(i);
}

void Cluster::Wipe(int i) {
  std::error_code ec;
  fs::remove_all(members_[i].data_dir, ec);
}

std::string Cluster::LogTail(int i, int lines) const {
  std::ifstream in(members_[i].log_path);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::string out;
  for (const std::string& l : tail) out += l + "\n";
  return out;
}

}  // namespace kvd::testing
