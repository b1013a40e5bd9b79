// Request builders and store options for tests and test programs (no GoogleTest needed).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "etcdserverpb/rpc.pb.h"
#include "storage/mvcc/store.h"

namespace kvd::mvcc::testing {

// Store options for tests: small memtables and cache (RocksDB's arena blocks are an eighth of a
// memtable, and the sanitizers make every fresh page expensive).
inline StoreOptions SmallStoreOptions() {
  StoreOptions o;
  o.write_buffer_bytes = size_t{1} << 20;
  o.block_cache_bytes = size_t{8} << 20;
  return o;
}

inline etcdserverpb::PutRequest Put(std::string key, std::string value, int64_t lease = 0) {
  etcdserverpb::PutRequest r;
  r.set_key(std::move(key));
  r.set_value(std::move(value));
  r.set_lease(lease);
  return r;
}

inline etcdserverpb::RangeRequest Get(std::string key, std::string range_end = "",
                                      int64_t revision = 0) {
  etcdserverpb::RangeRequest r;
  r.set_key(std::move(key));
  r.set_range_end(std::move(range_end));
  r.set_revision(revision);
  return r;
}

inline etcdserverpb::DeleteRangeRequest Del(std::string key, std::string range_end = "",
                                            bool prev_kv = false) {
  etcdserverpb::DeleteRangeRequest r;
  r.set_key(std::move(key));
  r.set_range_end(std::move(range_end));
  r.set_prev_kv(prev_kv);
  return r;
}

inline etcdserverpb::RequestOp OpPut(std::string key, std::string value) {
  etcdserverpb::RequestOp op;
  *op.mutable_request_put() = Put(std::move(key), std::move(value));
  return op;
}
inline etcdserverpb::RequestOp OpGet(std::string key, std::string range_end = "") {
  etcdserverpb::RequestOp op;
  *op.mutable_request_range() = Get(std::move(key), std::move(range_end));
  return op;
}
inline etcdserverpb::RequestOp OpDel(std::string key, std::string range_end = "") {
  etcdserverpb::RequestOp op;
  *op.mutable_request_delete_range() = Del(std::move(key), std::move(range_end));
  return op;
}
inline etcdserverpb::RequestOp OpTxn(etcdserverpb::TxnRequest txn) {
  etcdserverpb::RequestOp op;
  *op.mutable_request_txn() = std::move(txn);
  return op;
}

inline etcdserverpb::Compare CmpValue(std::string key, etcdserverpb::Compare::CompareResult r,
                                      std::string value) {
  etcdserverpb::Compare c;
  c.set_key(std::move(key));
  c.set_target(etcdserverpb::Compare::VALUE);
  c.set_result(r);
  c.set_value(std::move(value));
  return c;
}

inline etcdserverpb::Compare CmpVersion(std::string key, etcdserverpb::Compare::CompareResult r,
                                        int64_t version) {
  etcdserverpb::Compare c;
  c.set_key(std::move(key));
  c.set_target(etcdserverpb::Compare::VERSION);
  c.set_result(r);
  c.set_version(version);
  return c;
}

}  // namespace kvd::mvcc::testing
