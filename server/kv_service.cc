#include "server/kv_service.h"

#include <utility>

#include "server/errors.h"
#include "server/server.h"
#include "spdlog/spdlog.h"
#include "storage/mvcc/validation.h"

namespace kvd::server {
namespace {

// Answers a request with an error; every refusal shows in the log at the default level.
void Refuse(grpc::ServerUnaryReactor* reactor, const char* method, const absl::Status& why) {
  spdlog::info("refused {}: {}", method, std::string(why.message()));
  reactor->Finish(ToGrpcStatus(why));
}

// Finishes reactor with the outcome of a write: on success the applied response (with its header
// completed) becomes the RPC's response.
template <typename Response>
void FinishWrite(Server* server, grpc::ServerUnaryReactor* reactor, const char* method,
                 Response* out, ApplyResult result) {
  if (!result.status.ok()) {
    Refuse(reactor, method, result.status);
    return;
  }
  out->Swap(static_cast<Response*>(result.response.get()));
  server->FillHeader(out->mutable_header(), result.revision);
  reactor->Finish(grpc::Status::OK);
}

template <typename Response>
void ProposeWrite(Server* server, grpc::ServerUnaryReactor* reactor, const char* method,
                  Response* out, serverpb::Request req) {
  server->Propose(std::move(req), [server, reactor, method, out](ApplyResult result) {
    FinishWrite(server, reactor, method, out, std::move(result));
  });
}

}  // namespace

grpc::ServerUnaryReactor* KvService::Range(grpc::CallbackServerContext* ctx,
                                           const etcdserverpb::RangeRequest* req,
                                           etcdserverpb::RangeResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status st = mvcc::ValidateRange(*req); !st.ok()) {
    Refuse(reactor, "Range", st);
    return reactor;
  }
  Server* server = server_;
  auto serve = [server, reactor, req, resp] {
    absl::StatusOr<etcdserverpb::RangeResponse> r = server->store().Range(*req);
    if (!r.ok()) {
      Refuse(reactor, "Range", r.status());
      return;
    }
    resp->Swap(&*r);
    server->FillHeader(resp->mutable_header(), resp->header().revision());
    reactor->Finish(grpc::Status::OK);
  };
  if (req->serializable()) {
    serve();
    return reactor;
  }
  server_->AwaitLinearizable([server, reactor, serve](absl::Status ready) mutable {
    if (!ready.ok()) {
      Refuse(reactor, "Range", ready);
      return;
    }
    server->readers().Run(std::move(serve));
  });
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Put(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::PutRequest* req,
                                         etcdserverpb::PutResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status st = mvcc::ValidatePut(*req); !st.ok()) {
    Refuse(reactor, "Put", st);
    return reactor;
  }
  serverpb::Request r;
  *r.mutable_put() = *req;
  ProposeWrite(server_, reactor, "Put", resp, std::move(r));
  return reactor;
}

grpc::ServerUnaryReactor* KvService::DeleteRange(grpc::CallbackServerContext* ctx,
                                                 const etcdserverpb::DeleteRangeRequest* req,
                                                 etcdserverpb::DeleteRangeResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status st = mvcc::ValidateDeleteRange(*req); !st.ok()) {
    Refuse(reactor, "DeleteRange", st);
    return reactor;
  }
  serverpb::Request r;
  *r.mutable_delete_range() = *req;
  ProposeWrite(server_, reactor, "DeleteRange", resp, std::move(r));
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Txn(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::TxnRequest* req,
                                         etcdserverpb::TxnResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status st = mvcc::ValidateTxn(*req, server_->config().max_txn_ops); !st.ok()) {
    Refuse(reactor, "Txn", st);
    return reactor;
  }
  serverpb::Request r;
  *r.mutable_txn() = *req;
  ProposeWrite(server_, reactor, "Txn", resp, std::move(r));
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Compact(grpc::CallbackServerContext* ctx,
                                             const etcdserverpb::CompactionRequest* req,
                                             etcdserverpb::CompactionResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  serverpb::Request r;
  *r.mutable_compaction() = *req;
  Server* server = server_;
  const bool physical = req->physical();
  server_->Propose(std::move(r), [server, reactor, resp, physical](ApplyResult result) {
    if (!physical || !result.status.ok()) {
      FinishWrite(server, reactor, "Compact", resp, std::move(result));
      return;
    }
    // physical: answer once the compacted history is gone from disk.
    server->readers().Run([server, reactor, resp, result = std::move(result)]() mutable {
      server->store().WaitForCompaction();
      FinishWrite(server, reactor, "Compact", resp, std::move(result));
    });
  });
  return reactor;
}

}  // namespace kvd::server
