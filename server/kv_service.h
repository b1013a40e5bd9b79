// etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact.
//
// Writes are checked as etcd checks them before Raft (storage/mvcc/validation.h), then proposed
// and answered once applied. Linearizable reads wait for a shared ReadIndex round and run on the
// read executor; serializable reads run at once against this member's store. Every answer's
// header carries cluster, member, Raft term and the store's revision.
#pragma once

#include "etcdserverpb/rpc.grpc.pb.h"

namespace kvd::server {

class Server;

class KvService final : public etcdserverpb::KV::CallbackService {
 public:
  explicit KvService(Server* server) : server_(server) {}

  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::RangeRequest* req,
                                  etcdserverpb::RangeResponse* resp) override;
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx,
                                const etcdserverpb::PutRequest* req,
                                etcdserverpb::PutResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::DeleteRangeRequest* req,
                                        etcdserverpb::DeleteRangeResponse* resp) override;
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx,
                                const etcdserverpb::TxnRequest* req,
                                etcdserverpb::TxnResponse* resp) override;
  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* ctx,
                                    const etcdserverpb::CompactionRequest* req,
                                    etcdserverpb::CompactionResponse* resp) override;

 private:
  Server* const server_;
};

}  // namespace kvd::server
