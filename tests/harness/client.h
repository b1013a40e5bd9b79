// A small synchronous etcd client over a Cluster, for tests: every call has a deadline and
// returns the gRPC status, so tests assert exactly what a user of an etcd client would see.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace kvd::testing {

class KvClient {
 public:
  // endpoint: "127.0.0.1:port"
  explicit KvClient(const std::string& endpoint,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

  grpc::Status Put(const std::string& key, const std::string& value,
                   etcdserverpb::PutResponse* resp = nullptr);
  // The value of key, linearizable unless serializable; NOT_FOUND-free: an absent key gives
  // OK with *found = false.
  grpc::Status Get(const std::string& key, std::string* value, bool* found,
                   bool serializable = false, int64_t* revision = nullptr);
  grpc::Status Range(const etcdserverpb::RangeRequest& req, etcdserverpb::RangeResponse* resp);
  grpc::Status Delete(const std::string& key, etcdserverpb::DeleteRangeResponse* resp = nullptr);
  grpc::Status Txn(const etcdserverpb::TxnRequest& req, etcdserverpb::TxnResponse* resp);
  grpc::Status Status(etcdserverpb::StatusResponse* resp);
  grpc::Status HashKV(int64_t revision, etcdserverpb::HashKVResponse* resp);

 private:
  void Prepare(grpc::ClientContext* ctx) const;

  std::chrono::milliseconds timeout_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance_;
};

}  // namespace kvd::testing
