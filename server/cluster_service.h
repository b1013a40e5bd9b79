// etcdserverpb.Cluster: MemberList (runtime membership changes come later).
#pragma once

#include "etcdserverpb/rpc.grpc.pb.h"

namespace kvd::server {

class Server;

class ClusterService final : public etcdserverpb::Cluster::CallbackService {
 public:
  explicit ClusterService(Server* server) : server_(server) {}

  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::MemberListRequest* req,
                                       etcdserverpb::MemberListResponse* resp) override;

 private:
  Server* const server_;
};

}  // namespace kvd::server
