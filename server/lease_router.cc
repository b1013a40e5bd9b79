#include "server/lease_router.h"

#include <algorithm>
#include <utility>

#include "grpcpp/grpcpp.h"
#include "server/errors.h"
#include "server/lessor.h"
#include "server/server.h"
#include "server/transport.h"
#include "spdlog/spdlog.h"

namespace kvd::server {
namespace {

constexpr absl::Duration kRetryDelay = absl::Milliseconds(10);
constexpr absl::Duration kCallTimeout = absl::Seconds(2);

absl::Status DeadlineError(const Server& server) {
  return server.leader() == raft::kNoNode ? ErrNoLeader() : ErrTimeout();
}

}  // namespace

struct LeaseRouter::Call {
  grpc::ClientContext ctx;
  peerpb::LeaseRenewals request;
  peerpb::LeaseRenewed response;
  std::vector<Pending> items;
};

LeaseRouter::LeaseRouter(Server* server) : server_(server) {}

LeaseRouter::~LeaseRouter() { Stop(); }

void LeaseRouter::Start() {
  thread_ = std::thread([this] { Run(); });
}

void LeaseRouter::Stop() {
  std::deque<Pending> left;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &calls_in_flight_));
    left.swap(pending_);
  }
  for (Pending& p : left) p.done(ErrStopped());
}

bool LeaseRouter::AppliedEnough(uint64_t min_applied) const {
  const uint64_t applied = server_->applied_index();
  return applied >= min_applied && applied >= server_->RaftStatus().hard_state.commit;
}

LeaseRouter::Outcome LeaseRouter::RenewHere(int64_t id, uint64_t min_applied, int64_t* ttl) {
  if (server_->leader() != server_->member_id()) return peerpb::LeaseRenewed::RETRY;
  absl::StatusOr<int64_t> r = server_->lessor().Renew(id, SteadyNow());
  if (r.ok()) {
    *ttl = *r;
    return peerpb::LeaseRenewed::RENEWED;
  }
  if (IsNotPrimary(r.status())) return peerpb::LeaseRenewed::RETRY;
  return AppliedEnough(min_applied) ? peerpb::LeaseRenewed::NOT_FOUND : peerpb::LeaseRenewed::RETRY;
}

void LeaseRouter::Renew(int64_t id, absl::Time deadline, RenewDone done) {
  if (server_->leader() == server_->member_id()) {
    int64_t ttl = 0;
    switch (RenewHere(id, 0, &ttl)) {
      case peerpb::LeaseRenewed::RENEWED:
        done(ttl);
        return;
      case peerpb::LeaseRenewed::NOT_FOUND:
        done(int64_t{0});
        return;
      default:
        break;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      pending_.push_back(Pending{id, deadline, absl::InfinitePast(), std::move(done)});
      return;
    }
  }
  done(ErrStopped());
}

void LeaseRouter::Requeue(std::vector<Pending> items, absl::Duration delay) {
  const absl::Time at = absl::Now() + delay;
  absl::MutexLock lock(&mu_);
  for (Pending& p : items) {
    p.retry_at = at;
    pending_.push_back(std::move(p));
  }
}

void LeaseRouter::Run() {
  while (true) {
    std::vector<Pending> due;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || (!pending_.empty() && calls_in_flight_ < kMaxCallsInFlight &&
                             pending_.front().retry_at <= absl::Now());
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), kRetryDelay);
      if (stopping_) return;
      if (calls_in_flight_ >= kMaxCallsInFlight) continue;
      const absl::Time now = absl::Now();
      std::deque<Pending> later;
      while (!pending_.empty()) {
        Pending& p = pending_.front();
        if (p.retry_at <= now) {
          due.push_back(std::move(p));
        } else {
          later.push_back(std::move(p));
        }
        pending_.pop_front();
      }
      pending_.swap(later);
    }
    if (!due.empty()) Dispatch(std::move(due));
  }
}

void LeaseRouter::Dispatch(std::vector<Pending> items) {
  const absl::Time now = absl::Now();
  std::vector<Pending> live;
  for (Pending& p : items) {
    if (p.deadline <= now) {
      p.done(DeadlineError(*server_));
    } else {
      live.push_back(std::move(p));
    }
  }
  if (live.empty()) return;
  const raft::NodeId leader = server_->leader();
  if (leader == raft::kNoNode) {
    Requeue(std::move(live), kRetryDelay);
    return;
  }
  if (leader == server_->member_id()) {
    std::vector<Pending> retry;
    for (Pending& p : live) {
      int64_t ttl = 0;
      switch (RenewHere(p.id, 0, &ttl)) {
        case peerpb::LeaseRenewed::RENEWED:
          p.done(ttl);
          break;
        case peerpb::LeaseRenewed::NOT_FOUND:
          p.done(int64_t{0});
          break;
        default:
          retry.push_back(std::move(p));
      }
    }
    if (!retry.empty()) Requeue(std::move(retry), kRetryDelay);
    return;
  }
  // Forward to the leader, kMaxRenewalsPerCall at a time.
  for (size_t begin = 0; begin < live.size(); begin += kMaxRenewalsPerCall) {
    auto call = std::make_shared<Call>();
    const size_t end = std::min(live.size(), begin + kMaxRenewalsPerCall);
    for (size_t i = begin; i < end; ++i) {
      call->request.add_ids(live[i].id);
      call->items.push_back(std::move(live[i]));
    }
    call->request.mutable_sender()->set_cluster_id(server_->cluster_id());
    call->request.mutable_sender()->set_member_id(server_->member_id());
    call->request.set_applied_index(server_->applied_index());
    call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + kCallTimeout));
    peerpb::LeaseForwarding::Stub* stub = nullptr;
    {
      absl::MutexLock lock(&mu_);
      stub = StubFor(leader);
      if (stub != nullptr) ++calls_in_flight_;
    }
    if (stub == nullptr) {
      Requeue(std::move(call->items), kRetryDelay);
      continue;
    }
    stub->async()->Renew(
        &call->ctx, &call->request, &call->response, [this, call](grpc::Status st) {
          std::vector<Pending> retry;
          const bool answered =
              st.ok() && call->response.outcomes_size() == static_cast<int>(call->items.size()) &&
              call->response.ttls_size() == call->response.outcomes_size();
          for (size_t i = 0; i < call->items.size(); ++i) {
            Pending& p = call->items[i];
            const auto outcome =
                answered ? call->response.outcomes(i) : peerpb::LeaseRenewed::RETRY;
            if (outcome == peerpb::LeaseRenewed::RENEWED) {
              p.done(call->response.ttls(i));
            } else if (outcome == peerpb::LeaseRenewed::NOT_FOUND) {
              p.done(int64_t{0});
            } else {
              retry.push_back(std::move(p));
            }
          }
          if (!retry.empty()) Requeue(std::move(retry), kRetryDelay);
          absl::MutexLock lock(&mu_);
          --calls_in_flight_;
        });
  }
}

peerpb::LeaseForwarding::Stub* LeaseRouter::StubFor(raft::NodeId member) {
  const serverpb::Membership membership = server_->membership();
  for (const serverpb::Member& m : membership.members()) {
    if (m.id() != member || m.peer_urls().empty()) continue;
    absl::StatusOr<Url> url = Url::Parse(m.peer_urls(0));
    if (!url.ok()) return nullptr;
    std::unique_ptr<peerpb::LeaseForwarding::Stub>& stub = stubs_[url->HostPort()];
    if (stub == nullptr) {
      stub = peerpb::LeaseForwarding::NewStub(PeerChannel(url->HostPort()));
    }
    return stub.get();
  }
  return nullptr;
}

peerpb::LeaseRenewed LeaseRouter::RenewForPeer(const peerpb::LeaseRenewals& req) {
  peerpb::LeaseRenewed out;
  for (int64_t id : req.ids()) {
    int64_t ttl = 0;
    out.add_outcomes(RenewHere(id, req.applied_index(), &ttl));
    out.add_ttls(ttl);
  }
  return out;
}

LeaseRouter::Outcome LeaseRouter::TimeToLiveHere(int64_t id, bool keys, uint64_t min_applied,
                                                 etcdserverpb::LeaseTimeToLiveResponse* out) {
  if (server_->leader() != server_->member_id()) return peerpb::LeaseRenewed::RETRY;
  absl::StatusOr<LeaseTtl> ttl = server_->lessor().TimeToLive(id, SteadyNow());
  if (!ttl.ok()) {
    if (IsNotPrimary(ttl.status())) return peerpb::LeaseRenewed::RETRY;
    return AppliedEnough(min_applied) ? peerpb::LeaseRenewed::NOT_FOUND
                                      : peerpb::LeaseRenewed::RETRY;
  }
  out->set_id(id);
  out->set_ttl(ttl->remaining_seconds);
  out->set_grantedttl(ttl->granted_seconds);
  if (keys) {
    absl::StatusOr<std::vector<std::string>> k = server_->KeysWithLease(id);
    if (!k.ok()) return peerpb::LeaseRenewed::RETRY;
    for (std::string& key : *k) out->add_keys(std::move(key));
  }
  return peerpb::LeaseRenewed::RENEWED;
}

peerpb::LeaseTimeToLiveAnswer LeaseRouter::TimeToLiveForPeer(
    const peerpb::LeaseTimeToLiveQuery& req) {
  peerpb::LeaseTimeToLiveAnswer answer;
  etcdserverpb::LeaseTimeToLiveResponse resp;
  answer.set_outcome(TimeToLiveHere(req.id(), req.keys(), req.applied_index(), &resp));
  answer.set_ttl(resp.ttl());
  answer.set_granted_ttl(resp.grantedttl());
  for (const std::string& k : resp.keys()) answer.add_keys(k);
  return answer;
}

absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> LeaseRouter::TimeToLive(
    const etcdserverpb::LeaseTimeToLiveRequest& req, absl::Time deadline) {
  while (absl::Now() < deadline) {
    const raft::NodeId leader = server_->leader();
    if (leader == server_->member_id()) {
      etcdserverpb::LeaseTimeToLiveResponse resp;
      switch (TimeToLiveHere(req.id(), req.keys(), 0, &resp)) {
        case peerpb::LeaseRenewed::RENEWED:
          return resp;
        case peerpb::LeaseRenewed::NOT_FOUND:
          return ErrLeaseNotFound();
        default:
          break;
      }
    } else if (leader != raft::kNoNode) {
      peerpb::LeaseForwarding::Stub* stub = nullptr;
      {
        absl::MutexLock lock(&mu_);
        stub = StubFor(leader);
      }
      if (stub != nullptr) {
        peerpb::LeaseTimeToLiveQuery query;
        query.mutable_sender()->set_cluster_id(server_->cluster_id());
        query.mutable_sender()->set_member_id(server_->member_id());
        query.set_id(req.id());
        query.set_keys(req.keys());
        query.set_applied_index(server_->applied_index());
        grpc::ClientContext ctx;
        ctx.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + kCallTimeout)));
        peerpb::LeaseTimeToLiveAnswer answer;
        if (stub->TimeToLive(&ctx, query, &answer).ok()) {
          if (answer.outcome() == peerpb::LeaseRenewed::NOT_FOUND) return ErrLeaseNotFound();
          if (answer.outcome() == peerpb::LeaseRenewed::RENEWED) {
            etcdserverpb::LeaseTimeToLiveResponse resp;
            resp.set_id(req.id());
            resp.set_ttl(answer.ttl());
            resp.set_grantedttl(answer.granted_ttl());
            for (const std::string& k : answer.keys()) resp.add_keys(k);
            return resp;
          }
        }
      }
    }
    absl::SleepFor(kRetryDelay);
  }
  return DeadlineError(*server_);
}

}  // namespace kvd::server
