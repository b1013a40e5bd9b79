#include "server/cluster_service.h"

#include "server/server.h"

namespace kvd::server {

grpc::ServerUnaryReactor* ClusterService::MemberList(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::MemberListRequest*,
                                                     etcdserverpb::MemberListResponse* resp) {
  const serverpb::Membership current = server_->membership();
  for (const serverpb::Member& m : current.members()) {
    etcdserverpb::Member* out = resp->add_members();
    out->set_id(m.id());
    out->set_name(m.name());
    out->mutable_peerurls()->CopyFrom(m.peer_urls());
    out->mutable_clienturls()->CopyFrom(m.client_urls());
    out->set_islearner(m.is_learner());
  }
  server_->FillHeader(resp->mutable_header(), server_->store().CurrentRevision());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace kvd::server
