#include "server/maintenance_service.h"

#include "server/errors.h"
#include "server/server.h"
#include "server/version.h"

namespace kvd::server {

grpc::ServerUnaryReactor* MaintenanceService::Status(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::StatusRequest*,
                                                     etcdserverpb::StatusResponse* resp) {
  const raft::Status raft = server_->RaftStatus();
  resp->set_version(kVersion);
  const int64_t db_size = server_->db_size_bytes();
  resp->set_dbsize(db_size);
  resp->set_dbsizeinuse(db_size);
  resp->set_leader(server_->leader());
  resp->set_raftindex(raft.hard_state.commit);
  resp->set_raftterm(raft.hard_state.term);
  resp->set_raftappliedindex(server_->applied_index());
  const serverpb::Membership current = server_->membership();
  for (const serverpb::Member& m : current.members()) {
    if (m.id() == server_->member_id()) resp->set_islearner(m.is_learner());
  }
  server_->FillHeader(resp->mutable_header(), server_->store().CurrentRevision());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::Hash(grpc::CallbackServerContext* ctx,
                                                   const etcdserverpb::HashRequest*,
                                                   etcdserverpb::HashResponse* resp) {
  // kvd's store hash is HashKV over the whole history at the current revision.
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<mvcc::HashKVResult> h = server_->store().HashKV(0);
  if (!h.ok()) {
    reactor->Finish(ToGrpcStatus(h.status()));
    return reactor;
  }
  resp->set_hash(h->hash);
  server_->FillHeader(resp->mutable_header(), h->current_revision);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::HashKV(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::HashKVRequest* req,
                                                     etcdserverpb::HashKVResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<mvcc::HashKVResult> h = server_->store().HashKV(req->revision());
  if (!h.ok()) {
    reactor->Finish(ToGrpcStatus(h.status()));
    return reactor;
  }
  resp->set_hash(h->hash);
  resp->set_compact_revision(h->compact_revision);
  server_->FillHeader(resp->mutable_header(), h->current_revision);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::Defragment(grpc::CallbackServerContext* ctx,
                                                         const etcdserverpb::DefragmentRequest*,
                                                         etcdserverpb::DefragmentResponse* resp) {
  // RocksDB's equivalent of etcd's defragmentation: flush, then compact every level, which drops
  // the space of deleted and compacted records. Reads and writes go on meanwhile.
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Server* server = server_;
  server_->readers().Run([server, reactor, resp] {
    absl::Status st = server->DefragmentStore();
    if (st.ok()) server->FillHeader(resp->mutable_header(), server->store().CurrentRevision());
    reactor->Finish(ToGrpcStatus(st));
  });
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::Alarm(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::AlarmRequest* req,
                                                    etcdserverpb::AlarmResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (req->action() != etcdserverpb::AlarmRequest::GET) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                     "kvd raises and clears its NOSPACE alarm with the store's size "
                     "(see --quota-backend-bytes); alarms are listed, not set by hand"));
    return reactor;
  }
  if (server_->OverQuota() &&
      (req->alarm() == etcdserverpb::NONE || req->alarm() == etcdserverpb::NOSPACE)) {
    etcdserverpb::AlarmMember* alarm = resp->add_alarms();
    alarm->set_memberid(server_->member_id());
    alarm->set_alarm(etcdserverpb::NOSPACE);
  }
  server_->FillHeader(resp->mutable_header(), server_->store().CurrentRevision());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::MoveLeader(grpc::CallbackServerContext* ctx,
                                                         const etcdserverpb::MoveLeaderRequest* req,
                                                         etcdserverpb::MoveLeaderResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Server* server = server_;
  const uint64_t target = req->targetid();
  server_->readers().Run([server, reactor, resp, target] {
    absl::Status st = server->MoveLeader(target, server->request_deadline());
    if (st.ok()) server->FillHeader(resp->mutable_header(), server->store().CurrentRevision());
    reactor->Finish(ToGrpcStatus(st));
  });
  return reactor;
}

}  // namespace kvd::server
