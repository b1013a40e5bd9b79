// peerpb.LeaseForwarding: the leader's side of keep-alives and TTL queries other members
// forward (see lease_router.h). Registered on the peer listener; callers from another cluster
// are refused.
#pragma once

#include "peerpb/peer.grpc.pb.h"

namespace kvd::server {

class Server;
class LeaseRouter;

class LeaseForwardingService final : public peerpb::LeaseForwarding::CallbackService {
 public:
  LeaseForwardingService(Server* server, LeaseRouter* router) : server_(server), router_(router) {}

  grpc::ServerUnaryReactor* Renew(grpc::CallbackServerContext* ctx,
                                  const peerpb::LeaseRenewals* req,
                                  peerpb::LeaseRenewed* resp) override;
  grpc::ServerUnaryReactor* TimeToLive(grpc::CallbackServerContext* ctx,
                                       const peerpb::LeaseTimeToLiveQuery* req,
                                       peerpb::LeaseTimeToLiveAnswer* resp) override;

 private:
  Server* const server_;
  LeaseRouter* const router_;
};

}  // namespace kvd::server
