#include "server/server.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/health_check_service_interface.h"
#include "raft/confchange.h"
#include "raft/errors.h"
#include "server/cluster_service.h"
#include "server/errors.h"
#include "server/kv_service.h"
#include "server/lease_forwarding_service.h"
#include "server/lease_service.h"
#include "server/maintenance_service.h"
#include "server/watch_service.h"
#include "spdlog/spdlog.h"

namespace kvd::server {
namespace {

// gRPC accepts messages this much larger than --max-request-bytes, so that an oversized request
// reaches kvd and gets etcd's "request is too large" rather than a transport error.
constexpr int kGrpcOverheadBytes = 512 * 1024;

// Requests refused while the store is over its quota: those that can add data. Deletes and
// compactions, which free space, always go through.
bool AddsData(const serverpb::Request& r) {
  if (r.has_put() || r.has_lease_grant()) return true;
  if (!r.has_txn()) return false;
  auto has_put = [](const auto& ops, auto& self) -> bool {
    for (const etcdserverpb::RequestOp& op : ops) {
      if (op.has_request_put()) return true;
      if (op.has_request_txn() &&
          (self(op.request_txn().success(), self) || self(op.request_txn().failure(), self))) {
        return true;
      }
    }
    return false;
  };
  return has_put(r.txn().success(), has_put) || has_put(r.txn().failure(), has_put);
}

std::string PeerHostPort(const serverpb::Member& m) {
  if (m.peer_urls().empty()) return "";
  absl::StatusOr<Url> url = Url::Parse(m.peer_urls(0));
  return url.ok() ? url->HostPort() : "";
}

}  // namespace

Server::Server(ServerConfig config) : config_(std::move(config)) {}

Server::~Server() { Stop(); }

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerConfig& config) {
  std::unique_ptr<Server> server(new Server(config));
  if (absl::Status st = server->Init(); !st.ok()) {
    server->Stop();
    return st;
  }
  return server;
}

absl::Status Server::Init() {
  request_timeout_ = absl::Seconds(5) + 2 * absl::Milliseconds(config_.election_timeout_ms);
  absl::StatusOr<BootstrappedMember> member = Bootstrap(config_);
  if (!member.ok()) return member.status();
  member_ = *std::move(member);
  member_id_ = member_.identity.member_id();
  cluster_id_ = member_.identity.cluster_id();
  for (const std::string& notice : member_.notices) spdlog::warn("{}", notice);
  spdlog::info("{} member {:x} of cluster {:x}, data in {}",
               member_.restarted ? "restarting" : "starting new", member_id_, cluster_id_,
               config_.data_dir);

  ids_ = std::make_unique<RequestIdGenerator>(member_id_, absl::Now());
  waits_ = std::make_unique<WaitRegistry>();
  readers_ = std::make_unique<Executor>(4);

  // Leases (reloaded from the store) and watchers.
  const int election_ticks =
      std::max(2, config_.election_timeout_ms / config_.heartbeat_interval_ms);
  LessorOptions lessor_options;
  // etcd's minimum TTL: 1.5 election timeouts (in ticks), rounded up to whole seconds.
  lessor_options.min_ttl_seconds =
      (int64_t{3} * election_ticks / 2 * config_.heartbeat_interval_ms + 999) / 1000;
  lessor_options.checkpoint_interval = absl::Milliseconds(config_.lease_checkpoint_interval_ms);
  lessor_options.promotion_grace = absl::Milliseconds(config_.election_timeout_ms);
  auto propose_quietly = [this](serverpb::Request req) {
    Propose(std::move(req), [](ApplyResult) {});  // retried by the lessor if it did not apply
  };
  lessor_ = std::make_unique<Lessor>(
      lessor_options, LessorHooks{
                          .propose_revoke =
                              [propose_quietly](int64_t id) {
                                serverpb::Request req;
                                req.mutable_lease_revoke()->set_id(id);
                                propose_quietly(std::move(req));
                              },
                          .propose_checkpoints =
                              [propose_quietly](serverpb::LeaseCheckpoints checkpoints) {
                                serverpb::Request req;
                                *req.mutable_lease_checkpoints() = std::move(checkpoints);
                                propose_quietly(std::move(req));
                              },
                      });
  if (absl::Status st = lessor_->Recover(*member_.store, SteadyNow()); !st.ok()) return st;
  WatchHub::Options hub_options;
  hub_options.progress_interval = absl::Milliseconds(config_.watch_progress_notify_interval_ms);
  watch_hub_ = std::make_unique<WatchHub>(member_.store.get(), hub_options);
  lease_router_ = std::make_unique<LeaseRouter>(this);

  Applier::Hooks applier_hooks{
      .waits = waits_.get(),
      .compact_log = [this](raft::Index index,
                            raft::ConfState conf) { raft_->CompactLog(index, std::move(conf)); },
      .applied = [this](uint64_t applied) { reads_->OnApplied(applied); },
      .recording = [this] { return watch_hub_->Recording(); },
      .events =
          [this](std::vector<mvcc::RevisionEvents> revisions, mvcc::EventRecording recorded) {
            watch_hub_->Notify(std::move(revisions), recorded);
          },
      .membership =
          [this](const serverpb::Membership& m) {
            for (const serverpb::Member& peer : m.members()) {
              if (peer.id() != member_id_) transport_->AddPeer(peer.id(), PeerHostPort(peer));
            }
          },
      .lessor = lessor_.get(),
      .leader_noop = [this](raft::Term term) { lessor_->LeaderNoopApplied(term, SteadyNow()); },
      .restored =
          [this] {
            if (absl::Status st = lessor_->Recover(*member_.store, SteadyNow()); !st.ok()) {
              spdlog::critical("reloading leases from the installed snapshot failed: {}",
                               st.ToString());
              spdlog::shutdown();
              std::_Exit(EXIT_FAILURE);
            }
            watch_hub_->Restore();
          },
  };
  applier_ = std::make_unique<Applier>(
      member_.store.get(), Applier::Options{.snapshot_count = config_.snapshot_count},
      std::move(applier_hooks), member_.conf_state, member_.membership);
  auto images = std::make_unique<StoreSnapshotImages>(member_.data_dir->snap_dir(),
                                                      member_.store.get(), applier_.get());
  StoreSnapshotImages* images_ptr = images.get();
  snapshot_images_ = std::move(images);

  transport_ = std::make_unique<PeerTransport>(TransportOptions{
      .cluster_id = cluster_id_,
      .member_id = member_id_,
      .on_message = [this](raft::Message m) { raft_->Step(std::move(m)); },
      .on_unreachable = [this](raft::NodeId id) { raft_->ReportUnreachable(id); },
      .on_snapshot_status = [this](raft::NodeId id,
                                   bool failed) { raft_->ReportSnapshot(id, failed); },
      .snapshots = snapshot_images_.get(),
      .member_started =
          [this](raft::NodeId id) {
            const serverpb::Membership current = membership();
            for (uint64_t removed : current.removed()) {
              if (removed == id) return true;
            }
            for (const serverpb::Member& m : current.members()) {
              if (m.id() == id) return m.client_urls_size() > 0;
            }
            return false;
          },
  });
  for (const serverpb::Member& m : member_.membership.members()) {
    if (m.id() != member_id_) transport_->AddPeer(m.id(), PeerHostPort(m));
  }

  RaftLoop::Options raft_options;
  raft_options.raft.id = member_id_;
  raft_options.raft.heartbeat_tick = 1;
  raft_options.raft.election_tick =
      std::max(2, config_.election_timeout_ms / config_.heartbeat_interval_ms);
  raft_options.raft.applied = member_.applied;
  raft_options.raft.max_size_per_msg = 1 << 20;
  raft_options.raft.max_inflight_msgs = 256;
  raft_options.raft.pre_vote = true;
  raft_options.raft.check_quorum = true;
  raft_options.raft.seed = member_id_ ^ static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  raft_options.tick_interval = absl::Milliseconds(config_.heartbeat_interval_ms);
  raft_options.catch_up_entries = std::min<uint64_t>(5000, config_.snapshot_count);
  raft_options.member_name = config_.name;
  RaftLoop::Hooks raft_hooks{
      .send = [this](std::vector<raft::Message> msgs) { transport_->Send(std::move(msgs)); },
      .apply = [this](CommittedBatch batch) { applier_->Apply(std::move(batch)); },
      .install_snapshot = [images_ptr](const raft::Snapshot& s) { return images_ptr->Install(s); },
      .read_state = [this](const raft::ReadState& rs) { reads_->OnReadState(rs); },
      .leadership =
          [this](const raft::SoftState& soft, raft::Term term) {
            leader_.store(soft.leader);
            term_.store(term);
            lessor_->LeadershipChanged(soft.role == raft::Role::kLeader, term);
          },
      .conf_changed =
          [this](const raft::ConfChange& cc, const raft::ConfState&) {
            if (cc.type == raft::ConfChangeType::kRemoveNode) transport_->RemovePeer(cc.node_id);
          },
      .proposal_dropped =
          [this](uint64_t id, absl::Status) {
            waits_->Fail(id, leader_.load() == raft::kNoNode ? ErrNoLeader() : ErrLeaderChanged());
          },
  };
  absl::StatusOr<std::unique_ptr<RaftLoop>> raft = RaftLoop::Create(
      raft_options, std::move(member_.log), std::move(member_.wal), std::move(raft_hooks));
  if (!raft.ok()) return raft.status();
  raft_ = *std::move(raft);

  reads_ = std::make_unique<LinearizableReads>(
      LinearizableReads::Hooks{
          .request_read_index = [this](std::string ctx) { raft_->ReadIndex(std::move(ctx)); },
          .leader_known = [this] { return leader_.load() != raft::kNoNode; },
      },
      absl::Milliseconds(std::max(100, config_.election_timeout_ms / 2)));

  // Listeners: bound before anything runs, so a port in use fails the start.
  {
    grpc::ServerBuilder builder;
    std::vector<int> ports(config_.listen_peer_urls.size());
    for (size_t i = 0; i < ports.size(); ++i) {
      builder.AddListeningPort(config_.listen_peer_urls[i].HostPort(),
                               grpc::InsecureServerCredentials(), &ports[i]);
    }
    builder.RegisterService(transport_->service());
    AcceptPeerKeepalive(&builder);
    lease_forwarding_ = std::make_unique<LeaseForwardingService>(this, lease_router_.get());
    builder.RegisterService(lease_forwarding_.get());
    // gRPC sets SO_REUSEPORT by default: two processes could then share a port unnoticed.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.SetMaxReceiveMessageSize(-1);
    peer_server_ = builder.BuildAndStart();
    for (size_t i = 0; i < ports.size(); ++i) {
      if (peer_server_ == nullptr || ports[i] == 0) {
        return absl::UnavailableError(absl::StrCat(
            "--listen-peer-urls: cannot listen on ", config_.listen_peer_urls[i].ToString(),
            " (is the port in use, or the address not this host's?)"));
      }
    }
  }
  {
    grpc::EnableDefaultHealthCheckService(true);
    services_.push_back(std::make_unique<KvService>(this));
    services_.push_back(std::make_unique<ClusterService>(this));
    services_.push_back(std::make_unique<MaintenanceService>(this));
    auto watch = std::make_unique<WatchService>(
        this, watch_hub_.get(),
        WatchService::Options{.outbox = {},
                              .max_response_bytes = static_cast<size_t>(config_.max_request_bytes) +
                                                    kGrpcOverheadBytes});
    watch_service_ = watch.get();
    services_.push_back(std::move(watch));
    auto lease = std::make_unique<LeaseService>(this, lease_router_.get());
    lease_service_ = lease.get();
    services_.push_back(std::move(lease));
    grpc::ServerBuilder builder;
    std::vector<int> ports(config_.listen_client_urls.size());
    for (size_t i = 0; i < ports.size(); ++i) {
      builder.AddListeningPort(config_.listen_client_urls[i].HostPort(),
                               grpc::InsecureServerCredentials(), &ports[i]);
    }
    for (auto& service : services_) builder.RegisterService(service.get());
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.SetMaxReceiveMessageSize(static_cast<int>(config_.max_request_bytes) +
                                     kGrpcOverheadBytes);
    builder.SetMaxSendMessageSize(-1);
    client_server_ = builder.BuildAndStart();
    for (size_t i = 0; i < ports.size(); ++i) {
      if (client_server_ == nullptr || ports[i] == 0) {
        return absl::UnavailableError(absl::StrCat(
            "--listen-client-urls: cannot listen on ", config_.listen_client_urls[i].ToString(),
            " (is the port in use, or the address not this host's?)"));
      }
    }
  }

  watch_hub_->Start();
  lessor_->Start();
  lease_router_->Start();
  applier_->Start();
  raft_->Start();
  publisher_ = std::thread([this] { PublishAttributes(); });
  for (const Url& u : config_.listen_client_urls) {
    spdlog::info("serving clients on {}", u.ToString());
  }
  return absl::OkStatus();
}

void Server::PublishAttributes() {
  // Tell the cluster this member's name and client URLs, once, after every (re)start: they are
  // not in the bootstrap flags of the other members.
  serverpb::Request req;
  serverpb::MemberAttributes* attrs = req.mutable_member_attributes();
  attrs->set_member_id(member_id_);
  attrs->set_name(config_.name);
  for (const Url& u : config_.advertise_client_urls) attrs->add_client_urls(u.ToString());
  while (!stopping_.load()) {
    bool up_to_date = false;
    const serverpb::Membership current = membership();
    for (const serverpb::Member& m : current.members()) {
      if (m.id() != member_id_) continue;
      up_to_date = m.name() == attrs->name() && m.client_urls_size() == attrs->client_urls_size();
      for (int i = 0; up_to_date && i < m.client_urls_size(); ++i) {
        up_to_date = m.client_urls(i) == attrs->client_urls(i);
      }
    }
    if (up_to_date) return;
    absl::Notification done;
    absl::Status result;
    Propose(req, [&](ApplyResult r) {
      result = r.status;
      done.Notify();
    });
    done.WaitForNotification();
    if (result.ok()) continue;  // check again: applied
    // No leader yet, or a timeout: try again shortly (stop is checked first).
    for (int i = 0; i < 10 && !stopping_.load(); ++i) absl::SleepFor(absl::Milliseconds(50));
  }
}

void Server::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_.store(true);
  if (lessor_) lessor_->Stop();
  // Long-lived streams end now, or the listener's shutdown below would wait for them.
  if (watch_service_) watch_service_->Shutdown();
  if (lease_service_) lease_service_->Shutdown();
  if (client_server_) {
    if (auto* health = client_server_->GetHealthCheckService()) health->Shutdown();
    // Stop accepting; requests in flight finish through Raft and the apply path, which still run.
    client_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  if (publisher_.joinable()) publisher_.join();
  if (lease_router_) lease_router_->Stop();
  if (raft_) raft_->Stop();
  if (transport_) transport_->Stop();
  if (peer_server_) peer_server_->Shutdown(std::chrono::system_clock::now());
  if (applier_) applier_->Stop();
  // The Raft loop (read states) and the applier (applied index) call into reads_: it goes only
  // once both have stopped. Its destructor fails the reads still waiting.
  if (reads_) reads_.reset();
  if (watch_hub_) watch_hub_->Stop();
  if (waits_) waits_->FailAll(ErrStopped());
  readers_.reset();
  if (client_server_) client_server_->Wait();
  if (peer_server_) peer_server_->Wait();
  raft_.reset();
  applier_.reset();
  transport_.reset();
  member_.store.reset();
}

void Server::FillHeader(etcdserverpb::ResponseHeader* header, int64_t revision) const {
  header->set_cluster_id(cluster_id_);
  header->set_member_id(member_id_);
  header->set_revision(revision);
  header->set_raft_term(term_.load());
}

void Server::Propose(serverpb::Request request, Completion done) {
  if (stopping_.load()) {
    done(ApplyResult{ErrStopped(), nullptr, 0});
    return;
  }
  const uint64_t id = ids_->Next();
  request.set_id(id);
  std::string data = request.SerializeAsString();
  if (data.size() > static_cast<size_t>(config_.max_request_bytes)) {
    done(ApplyResult{ErrRequestTooLarge(), nullptr, 0});
    return;
  }
  if (leader_.load() == raft::kNoNode) {
    done(ApplyResult{ErrNoLeader(), nullptr, 0});
    return;
  }
  if (AddsData(request) && OverQuota()) {
    done(ApplyResult{ErrNoSpace(), nullptr, 0});
    return;
  }
  waits_->Register(id, request_deadline(), std::move(done));
  raft_->Propose(id, std::move(data));
}

void Server::AwaitLinearizable(LinearizableReads::Ready ready) {
  if (stopping_.load()) {
    ready(ErrStopped());
    return;
  }
  reads_->Await(request_deadline(), std::move(ready));
}

absl::Status Server::MoveLeader(raft::NodeId transferee, absl::Time deadline) {
  if (leader_.load() != member_id_) return ErrNotLeader();
  bool voter = false;
  const serverpb::Membership current = membership();
  for (const serverpb::Member& m : current.members()) {
    if (m.id() == transferee && !m.is_learner()) voter = true;
  }
  if (!voter) return ErrBadLeaderTransferee();
  if (transferee == member_id_) return absl::OkStatus();
  raft_->TransferLeader(transferee);
  while (absl::Now() < deadline) {
    if (leader_.load() == transferee) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(10));
  }
  return ErrTimeout();
}

int64_t Server::NewLeaseId() {
  int64_t id = 0;
  while (id == 0) id = static_cast<int64_t>(ids_->Next() & ((uint64_t{1} << 63) - 1));
  return id;
}

absl::StatusOr<std::vector<std::string>> Server::KeysWithLease(int64_t id) {
  std::vector<std::string> keys;
  absl::Status st = applier_->RunOnApplyThread([this, id, &keys] {
    keys = member_.store->KeysWithLease(id);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return keys;
}

absl::Status Server::DefragmentStore() {
  absl::Status st = applier_->RunOnApplyThread([this] { return member_.store->CompactStorage(); });
  db_size_bytes();  // the quota check sees the reclaimed space at once
  return st;
}

int64_t Server::db_size_bytes() const {
  const auto size = static_cast<int64_t>(member_.store->StoredBytes());
  db_size_.store(size, std::memory_order_relaxed);
  db_size_at_nanos_.store(absl::ToUnixNanos(absl::Now()), std::memory_order_relaxed);
  return size;
}

bool Server::OverQuota() const {
  if (config_.quota_backend_bytes <= 0) return false;
  int64_t size = db_size_.load(std::memory_order_relaxed);
  const int64_t age = absl::ToUnixNanos(absl::Now()) - db_size_at_nanos_.load();
  if (age > absl::ToInt64Nanoseconds(absl::Milliseconds(100))) size = db_size_bytes();
  return size > config_.quota_backend_bytes;
}

}  // namespace kvd::server
