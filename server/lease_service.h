// etcdserverpb.Lease: LeaseGrant, LeaseRevoke, LeaseKeepAlive, LeaseTimeToLive, LeaseLeases.
//
// Grant and revoke go through Raft (lessor.h applies them). A grant without an ID gets a fresh
// positive one from the member's request ID generator; a TTL above etcd's maximum is refused
// before proposing, one below the minimum (1.5 election timeouts, in whole seconds) raised to it,
// so every member applies the same TTL. Keep-alives and TTL queries go to the leader through the
// LeaseRouter, never through Raft; LeaseLeases answers from this member's own lease table.
// Answers follow etcd 3.4: a keep-alive for a missing lease gets TTL 0, a TTL query for one
// TTL -1; a keep-alive stream ends with the error when the leader cannot be reached in time.
//
// Thread-safety: gRPC calls the service from its threads; Shutdown may be called from any.
#pragma once

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace kvd::server {

class Server;
class LeaseRouter;

class LeaseService final : public etcdserverpb::Lease::CallbackService {
 public:
  LeaseService(Server* server, LeaseRouter* router) : server_(server), router_(router) {}
  ~LeaseService() override;

  grpc::ServerUnaryReactor* LeaseGrant(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::LeaseGrantRequest* req,
                                       etcdserverpb::LeaseGrantResponse* resp) override;
  grpc::ServerUnaryReactor* LeaseRevoke(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::LeaseRevokeRequest* req,
                                        etcdserverpb::LeaseRevokeResponse* resp) override;
  grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest,
                          etcdserverpb::LeaseKeepAliveResponse>*
  LeaseKeepAlive(grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* LeaseTimeToLive(grpc::CallbackServerContext* ctx,
                                            const etcdserverpb::LeaseTimeToLiveRequest* req,
                                            etcdserverpb::LeaseTimeToLiveResponse* resp) override;
  grpc::ServerUnaryReactor* LeaseLeases(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::LeaseLeasesRequest* req,
                                        etcdserverpb::LeaseLeasesResponse* resp) override;

  // Ends every keep-alive stream with "etcdserver: server stopped" and refuses new ones.
  void Shutdown();

 private:
  class KeepAliveStream;
  void Forget(KeepAliveStream* s);

  Server* const server_;
  LeaseRouter* const router_;
  absl::Mutex mu_;
  absl::flat_hash_map<KeepAliveStream*, std::shared_ptr<KeepAliveStream>> open_
      ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace kvd::server
