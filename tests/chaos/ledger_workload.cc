#include "tests/chaos/ledger_workload.h"

#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace kvd::chaos {
namespace {
constexpr char kPrefix[] = "led/";
}

void LedgerWorkload::Start(const RunContext& ctx) {
  for (int i = 0; i < clients_; ++i) {
    threads_.emplace_back([this, i, ctx] { Client(i, ctx); });
  }
}

void LedgerWorkload::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

uint64_t LedgerWorkload::acknowledged() const {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t n = 0;
  for (const auto& [key, w] : writes_) n += w.acknowledged ? 1 : 0;
  return n;
}

std::string LedgerWorkload::Summary() const {
  return absl::StrCat("ledger ", acknowledged(), " acknowledged");
}

void LedgerWorkload::Client(int index, const RunContext& ctx) {
  std::mt19937_64 rng(ctx.seed * 7919 + static_cast<uint64_t>(index));
  auto kv = etcdserverpb::KV::NewStub(MemberChannel(ctx.endpoints[index % ctx.endpoints.size()]));
  for (uint64_t seq = 1; !stop_; ++seq) {
    const std::string key = absl::StrCat(kPrefix, index, "/", seq);
    const std::string value = absl::StrCat(index, "-", seq);
    {
      std::lock_guard<std::mutex> lock(mu_);
      writes_[key] = Write{.value = value};
    }
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    etcdserverpb::PutResponse resp;
    grpc::ClientContext rpc;
    rpc.set_deadline(OpDeadline(ctx));
    rpc.set_wait_for_ready(true);
    ops_++;
    grpc::Status st = kv->Put(&rpc, req, &resp);
    if (st.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      writes_[key].acknowledged = true;
      writes_[key].revision = resp.header().revision();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 80));
    }
  }
}

std::vector<std::string> LedgerWorkload::Check(const RunContext& ctx) {
  std::vector<std::string> anomalies;
  std::map<std::string, Write> writes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writes = writes_;
  }
  for (size_t m = 0; m < ctx.endpoints.size(); ++m) {
    const std::string member = absl::StrCat("member ", m + 1, " (", ctx.endpoints[m], ")");
    auto kv = etcdserverpb::KV::NewStub(MemberChannel(ctx.endpoints[m]));
    std::map<std::string, std::string> present;
    std::string from = kPrefix;
    bool read_all = false;
    int64_t revision = 0;  // one revision for every page, so the pages are one snapshot
    for (int page = 0; page < 100000; ++page) {
      etcdserverpb::RangeRequest req;
      req.set_key(from);
      req.set_range_end("led0");  // '/' + 1: every key under led/
      req.set_serializable(true);
      req.set_limit(2000);
      req.set_revision(revision);
      etcdserverpb::RangeResponse resp;
      grpc::ClientContext rpc;
      rpc.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      grpc::Status st = kv->Range(&rpc, req, &resp);
      if (!st.ok()) {
        anomalies.push_back(absl::StrCat(
            "ledger: ", member, " did not answer a serializable read: ", st.error_message()));
        break;
      }
      if (revision == 0) revision = resp.header().revision();
      for (const auto& kvs : resp.kvs()) present[kvs.key()] = kvs.value();
      if (!resp.more() || resp.kvs_size() == 0) {
        read_all = true;
        break;
      }
      from = resp.kvs(resp.kvs_size() - 1).key() + std::string(1, '\0');
    }
    if (!read_all) continue;
    int lost = 0;
    for (const auto& [key, w] : writes) {
      if (!w.acknowledged) continue;
      auto it = present.find(key);
      if (it == present.end() || it->second != w.value) {
        if (++lost <= 5) {
          anomalies.push_back(
              absl::StrCat("ledger: ", member, " lost the acknowledged write ", key, "=", w.value,
                           " (acknowledged at revision ", w.revision, "; member has ",
                           it == present.end() ? "no such key" : "value " + it->second, ")"));
        }
      }
    }
    if (lost > 5) {
      anomalies.push_back(
          absl::StrCat("ledger: ", member, " lost ", lost, " acknowledged writes in all"));
    }
    for (const auto& [key, value] : present) {
      auto it = writes.find(key);
      if (it == writes.end() || it->second.value != value) {
        anomalies.push_back(
            absl::StrCat("ledger: ", member, " holds ", key, "=", value, " which no client wrote"));
      }
    }
  }
  return anomalies;
}

void LedgerWorkload::WriteArtifacts(const std::string& dir) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ofstream out(dir + "/ledger-writes.txt");
  out << "# key value acknowledged revision\n";
  for (const auto& [key, w] : writes_) {
    out << key << " " << w.value << " " << (w.acknowledged ? "ack" : "unknown") << " " << w.revision
        << "\n";
  }
}

}  // namespace kvd::chaos
