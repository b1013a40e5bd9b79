// watch_lease_bench: watch fan-out and lease keep-alive throughput of a 3-member kvd cluster
// beside a 3-member Debian etcd 3.4 cluster, both started on loopback by the test harness with
// the same flags (fsync on for both), driven by the same load generator, one after the other.
//
//   fan-out    W watchers on one prefix, spread over S streams (each on its own connection) and
//              over the three members, while P writers put V-byte values under the prefix for
//              D seconds. Reports puts/s and events delivered/s to all watchers (counted from the
//              first put until the last watcher has every event), and the members' resident
//              memory per idle watcher (RSS growth when the watchers were created).
//   keep-alive L leases, K keep-alive streams to one member each keeping up to 64 keep-alives in
//              flight for D seconds. Reports keep-alives answered per second and the Raft entries
//              the leader appended per second meanwhile. Run on the leader and on a follower.
//
//   cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release
//   cmake --build build/release --target kvd watch_lease_bench -j2
//   build/release/bench/watch_lease_bench [--watchers=1000] [--streams=100] [--writers=16]
//       [--value-bytes=100] [--seconds=10] [--leases=1000] [--keepalive-streams=16]
//       [--only=kvd|etcd]
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/harness/cluster.h"

namespace kvd::bench {
namespace {

using testing::Cluster;
using testing::ClusterOptions;

struct Flags {
  int watchers = 1000;
  int streams = 100;
  int writers = 16;
  int value_bytes = 100;
  int seconds = 10;
  int leases = 1000;
  int keepalive_streams = 16;
  std::string only;
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::pair<std::string, std::string> kv = absl::StrSplit(argv[i], absl::MaxSplits('=', 1));
    auto num = [&](int* out) {
      if (!absl::SimpleAtoi(kv.second, out)) {
        std::fprintf(stderr, "bad value for %s\n", kv.first.c_str());
        std::exit(2);
      }
    };
    if (kv.first == "--watchers")
      num(&f.watchers);
    else if (kv.first == "--streams")
      num(&f.streams);
    else if (kv.first == "--writers")
      num(&f.writers);
    else if (kv.first == "--value-bytes")
      num(&f.value_bytes);
    else if (kv.first == "--seconds")
      num(&f.seconds);
    else if (kv.first == "--leases")
      num(&f.leases);
    else if (kv.first == "--keepalive-streams")
      num(&f.keepalive_streams);
    else if (kv.first == "--only")
      f.only = kv.second;
    else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      std::exit(2);
    }
  }
  return f;
}

int64_t RssBytes(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kb = 0;
      std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kb)) return kb * 1024;
    }
  }
  return 0;
}

int64_t ClusterRss(const Cluster& c) {
  int64_t total = 0;
  for (int i = 0; i < c.size(); ++i) total += RssBytes(c.member(i).pid);
  return total;
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& endpoint) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own connection
  args.SetMaxReceiveMessageSize(-1);
  return grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
}

// One watch stream carrying several watchers of the prefix; counts what it receives.
class WatchClient
    : public grpc::ClientBidiReactor<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse> {
 public:
  WatchClient(etcdserverpb::Watch::Stub* stub, int watchers, const std::string& prefix,
              std::atomic<int64_t>* events, std::atomic<int>* created)
      : watchers_(watchers), events_(events), created_(created) {
    request_.mutable_create_request()->set_key(prefix);
    std::string end = prefix;
    end.back()++;
    request_.mutable_create_request()->set_range_end(end);
    stub->async()->Watch(&ctx_, this);
    StartRead(&response_);
    StartWrite(&request_);
    StartCall();
  }
  void Stop() { ctx_.TryCancel(); }
  void WaitDone() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

  void OnWriteDone(bool ok) override {
    if (ok && ++written_ < watchers_) StartWrite(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (response_.created()) created_->fetch_add(1);
    if (response_.events_size() > 0) events_->fetch_add(response_.events_size());
    StartRead(&response_);
  }
  void OnDone(const grpc::Status&) override {
    absl::MutexLock lock(&mu_);
    done_ = true;
  }

 private:
  grpc::ClientContext ctx_;
  etcdserverpb::WatchRequest request_;
  etcdserverpb::WatchResponse response_;
  const int watchers_;
  int written_ = 0;
  std::atomic<int64_t>* events_;
  std::atomic<int>* created_;
  absl::Mutex mu_;
  bool done_ = false;
};

// Keeps `window` unary Puts in flight until stopped.
class PutLoad {
 public:
  PutLoad(etcdserverpb::KV::Stub* stub, std::string prefix, int value_bytes, int window)
      : stub_(stub), prefix_(std::move(prefix)), value_(value_bytes, 'v') {
    for (int i = 0; i < window; ++i) Issue(i);
  }
  void Stop() {
    stop_.store(true);
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &in_flight_));
  }
  int64_t done() const { return done_.load(); }
  int64_t failed() const { return failed_.load(); }

 private:
  struct Call {
    grpc::ClientContext ctx;
    etcdserverpb::PutRequest req;
    etcdserverpb::PutResponse resp;
  };
  void Issue(int slot) {
    if (stop_.load()) return;
    {
      absl::MutexLock lock(&mu_);
      ++in_flight_;
    }
    auto call = std::make_shared<Call>();
    call->req.set_key(absl::StrCat(prefix_, "k", slot, "-", next_.fetch_add(1) % 64));
    call->req.set_value(value_);
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    stub_->async()->Put(&call->ctx, &call->req, &call->resp, [this, call, slot](grpc::Status st) {
      (st.ok() ? done_ : failed_).fetch_add(1);
      Issue(slot);
      absl::MutexLock lock(&mu_);
      --in_flight_;
    });
  }

  etcdserverpb::KV::Stub* stub_;
  const std::string prefix_;
  const std::string value_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> next_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<int64_t> failed_{0};
  absl::Mutex mu_;
  int in_flight_ = 0;
};

// One keep-alive stream renewing leases round-robin with up to `window` in flight.
class KeepAliveClient : public grpc::ClientBidiReactor<etcdserverpb::LeaseKeepAliveRequest,
                                                       etcdserverpb::LeaseKeepAliveResponse> {
 public:
  KeepAliveClient(etcdserverpb::Lease::Stub* stub, std::vector<int64_t> leases, int window,
                  std::atomic<int64_t>* answered)
      : leases_(std::move(leases)), window_(window), answered_(answered) {
    stub->async()->LeaseKeepAlive(&ctx_, this);
    StartRead(&response_);
    MaybeWrite();
    StartCall();
  }
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    ctx_.TryCancel();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }
  int64_t errors() const { return errors_; }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (ok) MaybeWriteLocked();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    answered_->fetch_add(1);
    if (response_.ttl() <= 0) ++errors_;
    {
      absl::MutexLock lock(&mu_);
      --outstanding_;
      MaybeWriteLocked();
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status&) override {
    absl::MutexLock lock(&mu_);
    done_ = true;
  }

 private:
  void MaybeWrite() {
    absl::MutexLock lock(&mu_);
    MaybeWriteLocked();
  }
  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || stopping_ || outstanding_ >= window_) return;
    request_.set_id(leases_[next_++ % leases_.size()]);
    writing_ = true;
    ++outstanding_;
    StartWrite(&request_);
  }

  grpc::ClientContext ctx_;
  const std::vector<int64_t> leases_;
  const int window_;
  std::atomic<int64_t>* answered_;
  etcdserverpb::LeaseKeepAliveRequest request_;
  etcdserverpb::LeaseKeepAliveResponse response_;
  absl::Mutex mu_;
  bool writing_ = false;
  bool stopping_ = false;
  bool done_ = false;
  int outstanding_ = 0;
  size_t next_ = 0;
  int64_t errors_ = 0;
};

struct FanOutResult {
  double puts_per_sec = 0;
  double events_per_sec = 0;
  double rss_per_watcher = 0;
  int64_t delivered = 0;
  int64_t expected = 0;
};

FanOutResult RunFanOut(Cluster& c, const Flags& f) {
  FanOutResult out;
  const std::string prefix = "/bench/fanout/";
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<etcdserverpb::Watch::Stub>> stubs;
  std::atomic<int64_t> events{0};
  std::atomic<int> created{0};
  const int64_t rss_before = ClusterRss(c);
  std::vector<std::unique_ptr<WatchClient>> clients;
  for (int s = 0; s < f.streams; ++s) {
    const int n = f.watchers / f.streams + (s < f.watchers % f.streams ? 1 : 0);
    channels.push_back(NewChannel(c.ClientEndpoint(s % c.size())));
    stubs.push_back(etcdserverpb::Watch::NewStub(channels.back()));
    clients.push_back(
        std::make_unique<WatchClient>(stubs.back().get(), n, prefix, &events, &created));
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (created.load() < f.watchers && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(10));
  if (created.load() < f.watchers) {
    std::fprintf(stderr, "only %d of %d watchers created\n", created.load(), f.watchers);
  }
  absl::SleepFor(absl::Seconds(1));  // let allocations settle before measuring memory
  out.rss_per_watcher = static_cast<double>(ClusterRss(c) - rss_before) / std::max(1, f.watchers);

  // Writers through the leader (any member would forward; the leader saves a hop).
  absl::StatusOr<int> leader = c.WaitForLeader();
  auto kv_channel = NewChannel(c.ClientEndpoint(leader.ok() ? *leader : 0));
  auto kv = etcdserverpb::KV::NewStub(kv_channel);
  const absl::Time start = absl::Now();
  PutLoad load(kv.get(), prefix, f.value_bytes, f.writers);
  absl::SleepFor(absl::Seconds(f.seconds));
  load.Stop();
  const absl::Duration writing = absl::Now() - start;
  out.expected = load.done() * f.watchers;
  // Wait for every watcher to get every event (or stop making progress).
  int64_t last = -1;
  absl::Time last_change = absl::Now();
  absl::Time finished = absl::Now();
  while (events.load() < out.expected && absl::Now() - last_change < absl::Seconds(10)) {
    const int64_t now_events = events.load();
    if (now_events != last) {
      last = now_events;
      last_change = finished = absl::Now();
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  if (events.load() >= out.expected) finished = absl::Now();
  out.delivered = events.load();
  out.puts_per_sec = load.done() / absl::ToDoubleSeconds(writing);
  out.events_per_sec = out.delivered / absl::ToDoubleSeconds(finished - start);
  for (auto& cl : clients) cl->Stop();
  for (auto& cl : clients) cl->WaitDone();
  return out;
}

struct KeepAliveResult {
  double per_sec = 0;
  double raft_entries_per_sec = 0;
  int64_t errors = 0;
};

uint64_t RaftIndex(Cluster& c, int member) {
  absl::StatusOr<etcdserverpb::StatusResponse> s = c.Status(member);
  return s.ok() ? s->raftindex() : 0;
}

KeepAliveResult RunKeepAlives(Cluster& c, const Flags& f, int member,
                              const std::vector<int64_t>& leases) {
  KeepAliveResult out;
  std::atomic<int64_t> answered{0};
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<etcdserverpb::Lease::Stub>> stubs;
  std::vector<std::unique_ptr<KeepAliveClient>> clients;
  absl::StatusOr<int> leader = c.WaitForLeader();
  const uint64_t index_before = RaftIndex(c, leader.ok() ? *leader : 0);
  const absl::Time start = absl::Now();
  for (int s = 0; s < f.keepalive_streams; ++s) {
    channels.push_back(NewChannel(c.ClientEndpoint(member)));
    stubs.push_back(etcdserverpb::Lease::NewStub(channels.back()));
    std::vector<int64_t> mine;
    for (size_t i = s; i < leases.size(); i += f.keepalive_streams) mine.push_back(leases[i]);
    clients.push_back(std::make_unique<KeepAliveClient>(stubs.back().get(), mine, 64, &answered));
  }
  absl::SleepFor(absl::Seconds(f.seconds));
  const int64_t count = answered.load();
  const absl::Duration elapsed = absl::Now() - start;
  const uint64_t index_after = RaftIndex(c, leader.ok() ? *leader : 0);
  for (auto& cl : clients) cl->Stop();
  for (auto& cl : clients) out.errors += cl->errors();
  out.per_sec = count / absl::ToDoubleSeconds(elapsed);
  out.raft_entries_per_sec = (index_after - index_before) / absl::ToDoubleSeconds(elapsed);
  return out;
}

std::vector<int64_t> GrantLeases(Cluster& c, int n) {
  auto stub = etcdserverpb::Lease::NewStub(NewChannel(c.ClientEndpoint(0)));
  std::vector<int64_t> ids;
  for (int i = 0; i < n; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    etcdserverpb::LeaseGrantRequest req;
    req.set_ttl(300);
    etcdserverpb::LeaseGrantResponse resp;
    if (stub->LeaseGrant(&ctx, req, &resp).ok()) ids.push_back(resp.id());
  }
  return ids;
}

struct Results {
  FanOutResult fanout;
  KeepAliveResult keepalive_leader;
  KeepAliveResult keepalive_follower;
};

Results RunAll(const std::string& name, ClusterOptions options, const Flags& f) {
  std::printf("== %s: starting 3 members\n", name.c_str());
  std::fflush(stdout);
  absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Start(std::move(options));
  if (!c.ok()) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), c.status().ToString().c_str());
    std::exit(1);
  }
  Results r;
  r.fanout = RunFanOut(**c, f);
  std::printf(
      "%s fan-out: %d watchers / %d streams, %.0f puts/s, %.0f events/s delivered "
      "(%lld of %lld), %.0f bytes RSS per watcher\n",
      name.c_str(), f.watchers, f.streams, r.fanout.puts_per_sec, r.fanout.events_per_sec,
      static_cast<long long>(r.fanout.delivered), static_cast<long long>(r.fanout.expected),
      r.fanout.rss_per_watcher);
  std::fflush(stdout);
  const std::vector<int64_t> leases = GrantLeases(**c, f.leases);
  absl::StatusOr<int> leader = (*c)->WaitForLeader();
  const int lead = leader.ok() ? *leader : 0;
  r.keepalive_leader = RunKeepAlives(**c, f, lead, leases);
  r.keepalive_follower = RunKeepAlives(**c, f, (lead + 1) % (*c)->size(), leases);
  std::printf(
      "%s keep-alives (%zu leases, %d streams): leader %.0f/s (%.1f Raft entries/s), "
      "follower %.0f/s (%.1f Raft entries/s), %lld failed\n",
      name.c_str(), leases.size(), f.keepalive_streams, r.keepalive_leader.per_sec,
      r.keepalive_leader.raft_entries_per_sec, r.keepalive_follower.per_sec,
      r.keepalive_follower.raft_entries_per_sec,
      static_cast<long long>(r.keepalive_leader.errors + r.keepalive_follower.errors));
  std::fflush(stdout);
  return r;
}

}  // namespace
}  // namespace kvd::bench

int main(int argc, char** argv) {
  using namespace kvd::bench;
  const Flags f = ParseFlags(argc, argv);
  ClusterOptions kvd_options;
  kvd_options.heartbeat_interval_ms = 100;
  kvd_options.election_timeout_ms = 1000;
  ClusterOptions etcd_options = kvd_options;
  etcd_options.kvd_binary = "/usr/bin/etcd";
  etcd_options.token = "etcd-bench";
  Results kvd, etcd;
  if (f.only != "etcd") kvd = RunAll("kvd", kvd_options, f);
  if (f.only != "kvd") etcd = RunAll("etcd", etcd_options, f);
  if (f.only.empty()) {
    auto ratio = [](double a, double b) { return b > 0 ? a / b : 0; };
    std::printf(
        "\nratios kvd/etcd: fan-out events/s %.2f, puts/s %.2f, RSS per watcher %.2f, "
        "keep-alives/s leader %.2f, follower %.2f\n",
        ratio(kvd.fanout.events_per_sec, etcd.fanout.events_per_sec),
        ratio(kvd.fanout.puts_per_sec, etcd.fanout.puts_per_sec),
        ratio(kvd.fanout.rss_per_watcher, etcd.fanout.rss_per_watcher),
        ratio(kvd.keepalive_leader.per_sec, etcd.keepalive_leader.per_sec),
        ratio(kvd.keepalive_follower.per_sec, etcd.keepalive_follower.per_sec));
  }
  return 0;
}
