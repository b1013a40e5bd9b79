#include "tests/chaos/register_workload.h"

#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/linearizability/checker.h"

namespace kvd::chaos {
namespace lin = linearizability;

void RegisterWorkload::Start(const RunContext& ctx) {
  for (int i = 0; i < options_.clients; ++i) {
    threads_.emplace_back([this, i, ctx] { Client(i, ctx); });
  }
}

void RegisterWorkload::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void RegisterWorkload::Client(int index, const RunContext& ctx) {
  std::mt19937_64 rng(ctx.seed * 1000003 + static_cast<uint64_t>(index));
  const std::string endpoint = ctx.endpoints[index % ctx.endpoints.size()];
  auto kv = etcdserverpb::KV::NewStub(MemberChannel(endpoint));
  std::vector<lin::Value> last_seen(options_.keys);  // what this client last read or wrote
  uint64_t seq = 0;
  const uint64_t client = static_cast<uint64_t>(index) + 1;
  while (!stop_) {
    const int k = static_cast<int>(rng() % options_.keys);
    const std::string key = absl::StrCat("reg/", k);
    const int dice = static_cast<int>(rng() % 10);
    grpc::ClientContext rpc;
    rpc.set_deadline(OpDeadline(ctx));
    rpc.set_wait_for_ready(true);
    const int64_t call = ctx.clock->NowMicros();
    ops_++;
    lin::Operation op;
    bool failed = false;
    if (dice < 4) {
      etcdserverpb::RangeRequest req;
      req.set_key(key);
      req.set_serializable(options_.serializable_reads);
      etcdserverpb::RangeResponse resp;
      grpc::Status st = kv->Range(&rpc, req, &resp);
      if (!st.ok()) {
        failed = true;  // a read that got no answer changed nothing: not recorded
      } else {
        lin::Value read;
        if (resp.kvs_size() > 0) read = resp.kvs(0).value();
        last_seen[k] = read;
        op = lin::GetOp(client, call, ctx.clock->NowMicros(), key, read);
      }
    } else {
      const std::string value = absl::StrCat("c", client, "-", ++seq);
      etcdserverpb::PutRequest put;
      put.set_key(key);
      put.set_value(value);
      if (dice < 7) {
        etcdserverpb::PutResponse resp;
        grpc::Status st = kv->Put(&rpc, put, &resp);
        std::optional<lin::Time> ret;
        if (st.ok()) {
          ret = ctx.clock->NowMicros();
          last_seen[k] = value;
        } else {
          failed = true;
        }
        op = lin::PutOp(client, call, ret, key, value);
      } else {
        const lin::Value expected = last_seen[k];
        etcdserverpb::TxnRequest txn;
        etcdserverpb::Compare* cmp = txn.add_compare();
        cmp->set_key(key);
        cmp->set_result(etcdserverpb::Compare::EQUAL);
        if (expected.has_value()) {
          cmp->set_target(etcdserverpb::Compare::VALUE);
          cmp->set_value(*expected);
        } else {
          cmp->set_target(etcdserverpb::Compare::CREATE);
          cmp->set_create_revision(0);
        }
        *txn.add_success()->mutable_request_put() = put;
        etcdserverpb::TxnResponse resp;
        grpc::Status st = kv->Txn(&rpc, txn, &resp);
        if (st.ok()) {
          if (resp.succeeded()) last_seen[k] = value;
          op = lin::CasOp(client, call, ctx.clock->NowMicros(), key, expected, value,
                          resp.succeeded());
        } else {
          failed = true;
          op = lin::CasOp(client, call, std::nullopt, key, expected, value, std::nullopt);
        }
      }
    }
    const bool unanswered_read = dice < 4 && failed;
    if (!unanswered_read) {
      std::lock_guard<std::mutex> lock(mu_);
      history_.push_back(std::move(op));
    }
    if (failed) {
      // A client backs off a little after an error, as real clients do, so a member that answers
      // "no leader" at once does not flood the history with indeterminate writes.
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 80));
    }
  }
}

std::vector<std::string> RegisterWorkload::Check(const RunContext&) {
  std::vector<lin::Operation> history;
  {
    std::lock_guard<std::mutex> lock(mu_);
    history = history_;
  }
  absl::StatusOr<lin::CheckResult> result = lin::CheckHistory(history);
  if (!result.ok()) {
    report_ = std::string(result.status().message());
    return {absl::StrCat("register: the history is malformed: ", report_)};
  }
  report_ = result->Report();
  unknown_keys_ = result->unknown_keys.size();
  if (result->verdict != lin::Verdict::kNotLinearizable) return {};
  std::vector<std::string> anomalies;
  for (const lin::KeyViolation& v : result->violations) {
    anomalies.push_back(
        absl::StrCat("register: key ", v.key, " is not linearizable (see register-check.txt)"));
  }
  return anomalies;
}

std::string RegisterWorkload::Summary() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t indeterminate = 0;
  for (const lin::Operation& op : history_) indeterminate += op.Indeterminate() ? 1 : 0;
  return absl::StrCat("register ", history_.size(), " ops recorded (", indeterminate,
                      " indeterminate, ", unknown_keys_, " keys unknown)");
}

void RegisterWorkload::WriteArtifacts(const std::string& dir) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ofstream(dir + "/register-history.txt") << lin::FormatHistory(history_);
  std::ofstream(dir + "/register-check.txt") << report_ << "\n";
}

}  // namespace kvd::chaos
