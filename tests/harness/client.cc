#include "tests/harness/client.h"

namespace kvd::testing {

KvClient::KvClient(const std::string& endpoint, std::chrono::milliseconds timeout)
    : timeout_(timeout) {
  auto channel = grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials());
  kv_ = etcdserverpb::KV::NewStub(channel);
  maintenance_ = etcdserverpb::Maintenance::NewStub(channel);
}

void KvClient::Prepare(grpc::ClientContext* ctx) const {
  ctx->set_deadline(std::chrono::system_clock::now() + timeout_);
}

grpc::Status KvClient::Put(const std::string& key, const std::string& value,
                           etcdserverpb::PutResponse* resp) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  etcdserverpb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  etcdserverpb::PutResponse local;
  return kv_->Put(&ctx, req, resp != nullptr ? resp : &local);
}

grpc::Status KvClient::Get(const std::string& key, std::string* value, bool* found,
                           bool serializable, int64_t* revision) {
  etcdserverpb::RangeRequest req;
  req.set_key(key);
  req.set_serializable(serializable);
  etcdserverpb::RangeResponse resp;
  grpc::Status st = Range(req, &resp);
  if (!st.ok()) return st;
  *found = resp.kvs_size() > 0;
  if (*found) *value = resp.kvs(0).value();
  if (revision != nullptr) *revision = resp.header().revision();
  return st;
}

grpc::Status KvClient::Range(const etcdserverpb::RangeRequest& req,
                             etcdserverpb::RangeResponse* resp) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  return kv_->Range(&ctx, req, resp);
}

grpc::Status KvClient::Delete(const std::string& key, etcdserverpb::DeleteRangeResponse* resp) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  etcdserverpb::DeleteRangeRequest req;
  req.set_key(key);
  etcdserverpb::DeleteRangeResponse local;
  return kv_->DeleteRange(&ctx, req, resp != nullptr ? resp : &local);
}

grpc::Status KvClient::Txn(const etcdserverpb::TxnRequest& req, etcdserverpb::TxnResponse* resp) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  return kv_->Txn(&ctx, req, resp);
}

grpc::Status KvClient::Status(etcdserverpb::StatusResponse* resp) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  return maintenance_->Status(&ctx, etcdserverpb::StatusRequest(), resp);
}

grpc::Status KvClient::HashKV(int64_t revision, etcdserverpb::HashKVResponse* resp) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  etcdserverpb::HashKVRequest req;
  req.set_revision(revision);
  return maintenance_->HashKV(&ctx, req, resp);
}

}  // namespace kvd::testing
