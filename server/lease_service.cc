#include "server/lease_service.h"

#include <deque>
#include <utility>
#include <vector>

#include "server/errors.h"
#include "server/lease_router.h"
#include "server/lessor.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

namespace kvd::server {
namespace {

void Refuse(grpc::ServerUnaryReactor* reactor, const char* method, const absl::Status& why) {
  spdlog::info("refused {}: {}", method, std::string(why.message()));
  reactor->Finish(ToGrpcStatus(why));
}

// Proposes req and answers with the applied response (header completed).
template <typename Response>
void ProposeLeaseWrite(Server* server, grpc::ServerUnaryReactor* reactor, const char* method,
                       Response* out, serverpb::Request req) {
  server->Propose(std::move(req), [server, reactor, method, out](ApplyResult result) {
    if (!result.status.ok()) {
      Refuse(reactor, method, result.status);
      return;
    }
    out->Swap(static_cast<Response*>(result.response.get()));
    server->FillHeader(out->mutable_header(), result.revision);
    reactor->Finish(grpc::Status::OK);
  });
}

}  // namespace

class LeaseService::KeepAliveStream final
    : public grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest,
                                     etcdserverpb::LeaseKeepAliveResponse>,
      public std::enable_shared_from_this<KeepAliveStream> {
 public:
  // Keep-alives of one stream being renewed at once; reading pauses beyond.
  static constexpr int kMaxInFlight = 1024;

  explicit KeepAliveStream(LeaseService* service) : service_(service) {}

  void Begin(std::shared_ptr<KeepAliveStream> self) {
    absl::MutexLock lock(&mu_);
    self_ = std::move(self);
    StartRead(&request_);
  }

  void End(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (ended_) return;
      ended_ = true;
    }
    Finish(status);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client is done sending: finish once every keep-alive it sent is answered.
      bool finish = false;
      {
        absl::MutexLock lock(&mu_);
        read_done_ = true;
        finish = DrainedLocked();
      }
      if (finish) End(grpc::Status::OK);
      return;
    }
    const int64_t id = request_.id();
    bool read_more = false;
    {
      absl::MutexLock lock(&mu_);
      ++in_flight_;
      read_more = in_flight_ < kMaxInFlight;
      reading_paused_ = !read_more;
    }
    service_->router_->Renew(
        id, service_->server_->request_deadline(),
        [self = shared_from_this(), id](absl::StatusOr<int64_t> ttl) { self->Renewed(id, ttl); });
    if (read_more) {
      absl::MutexLock lock(&mu_);
      if (!ended_) StartRead(&request_);
    }
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      End(grpc::Status(grpc::StatusCode::CANCELLED, "keep-alive stream closed"));
      return;
    }
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      WriteNextLocked();
      finish = DrainedLocked();
    }
    if (finish) End(grpc::Status::OK);
  }

  void OnCancel() override {
    End(grpc::Status(grpc::StatusCode::CANCELLED, "keep-alive stream canceled"));
  }

  void OnDone() override {
    service_->Forget(this);
    std::shared_ptr<KeepAliveStream> self;
    absl::MutexLock lock(&mu_);
    self.swap(self_);
  }

 private:
  void Renewed(int64_t id, const absl::StatusOr<int64_t>& ttl) {
    if (!ttl.ok()) {
      spdlog::info("keep-alive of lease {:x} failed: {}", static_cast<uint64_t>(id),
                   std::string(ttl.status().message()));
      End(ToGrpcStatus(ttl.status()));
      return;
    }
    etcdserverpb::LeaseKeepAliveResponse resp;
    service_->server_->FillHeader(resp.mutable_header(),
                                  service_->server_->store().CurrentRevision());
    resp.set_id(id);
    resp.set_ttl(*ttl);
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      --in_flight_;
      if (ended_) return;
      queue_.push_back(std::move(resp));
      WriteNextLocked();
      if (reading_paused_ && in_flight_ < kMaxInFlight && !read_done_) {
        reading_paused_ = false;
        StartRead(&request_);
      }
      finish = DrainedLocked();
    }
    if (finish) End(grpc::Status::OK);
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || ended_ || queue_.empty()) return;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }

  bool DrainedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return read_done_ && in_flight_ == 0 && queue_.empty() && !writing_ && !ended_;
  }

  LeaseService* const service_;
  etcdserverpb::LeaseKeepAliveRequest request_;  // the read in flight

  absl::Mutex mu_;
  std::shared_ptr<KeepAliveStream> self_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool read_done_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<etcdserverpb::LeaseKeepAliveResponse> queue_ ABSL_GUARDED_BY(mu_);
  etcdserverpb::LeaseKeepAliveResponse current_ ABSL_GUARDED_BY(mu_);
};

LeaseService::~LeaseService() { Shutdown(); }

grpc::ServerUnaryReactor* LeaseService::LeaseGrant(grpc::CallbackServerContext* ctx,
                                                   const etcdserverpb::LeaseGrantRequest* req,
                                                   etcdserverpb::LeaseGrantResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (req->ttl() > kMaxLeaseTtlSeconds) {
    Refuse(reactor, "LeaseGrant", ErrLeaseTTLTooLarge());
    return reactor;
  }
  serverpb::Request r;
  etcdserverpb::LeaseGrantRequest* grant = r.mutable_lease_grant();
  *grant = *req;
  if (grant->id() == 0) grant->set_id(server_->NewLeaseId());
  const int64_t min_ttl = server_->lessor().options().min_ttl_seconds;
  if (grant->ttl() < min_ttl) grant->set_ttl(min_ttl);
  ProposeLeaseWrite(server_, reactor, "LeaseGrant", resp, std::move(r));
  return reactor;
}

grpc::ServerUnaryReactor* LeaseService::LeaseRevoke(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::LeaseRevokeRequest* req,
                                                    etcdserverpb::LeaseRevokeResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  serverpb::Request r;
  *r.mutable_lease_revoke() = *req;
  ProposeLeaseWrite(server_, reactor, "LeaseRevoke", resp, std::move(r));
  return reactor;
}

grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>*
LeaseService::LeaseKeepAlive(grpc::CallbackServerContext*) {
  auto stream = std::make_shared<KeepAliveStream>(this);
  bool refused = false;
  {
    absl::MutexLock lock(&mu_);
    refused = shut_down_;
    if (!refused) open_.emplace(stream.get(), stream);
  }
  stream->Begin(stream);
  if (refused) stream->End(ToGrpcStatus(ErrStopped()));
  return stream.get();
}

grpc::ServerUnaryReactor* LeaseService::LeaseTimeToLive(
    grpc::CallbackServerContext* ctx, const etcdserverpb::LeaseTimeToLiveRequest* req,
    etcdserverpb::LeaseTimeToLiveResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Server* server = server_;
  LeaseRouter* router = router_;
  // Waits for the leader (and, for keys, the apply thread): not on a gRPC thread.
  server_->readers().Run([server, router, reactor, req, resp] {
    absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> r =
        router->TimeToLive(*req, server->request_deadline());
    if (r.ok()) {
      resp->Swap(&*r);
    } else if (IsErr(r.status(), ErrLeaseNotFound())) {
      resp->set_id(req->id());
      resp->set_ttl(-1);
    } else {
      Refuse(reactor, "LeaseTimeToLive", r.status());
      return;
    }
    server->FillHeader(resp->mutable_header(), server->store().CurrentRevision());
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* LeaseService::LeaseLeases(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::LeaseLeasesRequest*,
                                                    etcdserverpb::LeaseLeasesResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  for (int64_t id : server_->lessor().Leases()) resp->add_leases()->set_id(id);
  server_->FillHeader(resp->mutable_header(), server_->store().CurrentRevision());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

void LeaseService::Forget(KeepAliveStream* s) {
  absl::MutexLock lock(&mu_);
  open_.erase(s);
}

void LeaseService::Shutdown() {
  std::vector<std::shared_ptr<KeepAliveStream>> open;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    for (auto& [raw, s] : open_) open.push_back(s);
  }
  for (auto& s : open) s->End(ToGrpcStatus(ErrStopped()));
}

}  // namespace kvd::server
