#include "server/lease_forwarding_service.h"

#include "server/lease_router.h"
#include "server/server.h"

namespace kvd::server {
namespace {

grpc::Status CheckSender(const Server& server, const peerpb::Sender& sender) {
  if (sender.cluster_id() != server.cluster_id()) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "sender is of another cluster");
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::ServerUnaryReactor* LeaseForwardingService::Renew(grpc::CallbackServerContext* ctx,
                                                        const peerpb::LeaseRenewals* req,
                                                        peerpb::LeaseRenewed* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (grpc::Status st = CheckSender(*server_, req->sender()); !st.ok()) {
    reactor->Finish(st);
    return reactor;
  }
  *resp = router_->RenewForPeer(*req);  // in memory: never blocks
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* LeaseForwardingService::TimeToLive(
    grpc::CallbackServerContext* ctx, const peerpb::LeaseTimeToLiveQuery* req,
    peerpb::LeaseTimeToLiveAnswer* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (grpc::Status st = CheckSender(*server_, req->sender()); !st.ok()) {
    reactor->Finish(st);
    return reactor;
  }
  // Listing the lease's keys waits for the apply thread: not on a gRPC thread.
  LeaseRouter* router = router_;
  server_->readers().Run([router, reactor, req, resp] {
    *resp = router->TimeToLiveForPeer(*req);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace kvd::server
