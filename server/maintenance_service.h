// etcdserverpb.Maintenance: Status, Hash, HashKV, Defragment, Alarm, MoveLeader.
#pragma once

#include "etcdserverpb/rpc.grpc.pb.h"

namespace kvd::server {

class Server;

class MaintenanceService final : public etcdserverpb::Maintenance::CallbackService {
 public:
  explicit MaintenanceService(Server* server) : server_(server) {}

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::StatusRequest* req,
                                   etcdserverpb::StatusResponse* resp) override;
  grpc::ServerUnaryReactor* Hash(grpc::CallbackServerContext* ctx,
                                 const etcdserverpb::HashRequest* req,
                                 etcdserverpb::HashResponse* resp) override;
  grpc::ServerUnaryReactor* HashKV(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::HashKVRequest* req,
                                   etcdserverpb::HashKVResponse* resp) override;
  grpc::ServerUnaryReactor* Defragment(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::DefragmentRequest* req,
                                       etcdserverpb::DefragmentResponse* resp) override;
  grpc::ServerUnaryReactor* Alarm(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::AlarmRequest* req,
                                  etcdserverpb::AlarmResponse* resp) override;
  grpc::ServerUnaryReactor* MoveLeader(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::MoveLeaderRequest* req,
                                       etcdserverpb::MoveLeaderResponse* resp) override;

 private:
  Server* const server_;
};

}  // namespace kvd::server
