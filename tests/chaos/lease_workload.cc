#include "tests/chaos/lease_workload.h"

#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace kvd::chaos {
namespace {

constexpr char kPrefix[] = "lease/";
constexpr int64_t kMarginMicros = 500'000;  // for the "kept alive" read check

}  // namespace

void LeaseWorkload::Start(const RunContext& ctx) {
  for (int i = 0; i < clients_; ++i) {
    threads_.emplace_back([this, i, ctx] { Client(i, ctx); });
  }
}

void LeaseWorkload::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void LeaseWorkload::Note(const std::string& line) {
  std::lock_guard<std::mutex> lock(mu_);
  log_.push_back(line);
}

void LeaseWorkload::Client(int index, const RunContext& ctx) {
  std::mt19937_64 rng(ctx.seed * 104729 + static_cast<uint64_t>(index));
  auto channel = MemberChannel(ctx.endpoints[index % ctx.endpoints.size()]);
  auto lease = etcdserverpb::Lease::NewStub(channel);
  auto kv = etcdserverpb::KV::NewStub(channel);
  auto backoff = [&] { std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 100)); };
  for (int cycle = 1; !stop_; ++cycle) {
    // Grant.
    etcdserverpb::LeaseGrantResponse granted;
    const int64_t grant_call = ctx.clock->NowMicros();
    {
      etcdserverpb::LeaseGrantRequest req;
      req.set_ttl(kTtlSeconds);
      grpc::ClientContext rpc;
      rpc.set_deadline(OpDeadline(ctx));
      rpc.set_wait_for_ready(true);
      ops_++;
      if (!lease->LeaseGrant(&rpc, req, &granted).ok() || granted.id() == 0) {
        backoff();
        continue;
      }
    }
    const int64_t id = granted.id();
    leases_++;
    // Two keys on it; remember when each put was acknowledged.
    std::vector<std::pair<std::string, int64_t>> keys;  // key, ack time (-1: no answer)
    for (int k = 0; k < 2; ++k) {
      const std::string key = absl::StrCat(kPrefix, index, "/", cycle, "/", k);
      etcdserverpb::PutRequest req;
      req.set_key(key);
      req.set_value(absl::StrCat(id));
      req.set_lease(id);
      etcdserverpb::PutResponse resp;
      grpc::ClientContext rpc;
      rpc.set_deadline(OpDeadline(ctx));
      rpc.set_wait_for_ready(true);
      ops_++;
      const bool ok = kv->Put(&rpc, req, &resp).ok();
      keys.emplace_back(key, ok ? ctx.clock->NowMicros() : -1);
    }
    Note(absl::StrCat(ctx.clock->NowMicros(), " client ", index, " lease ", id, " keys ",
                      keys[0].first, " ", keys[1].first));
    // Keep alive for a while, reading the keys back after each acknowledged keep-alive. The
    // lease cannot expire before alive_until: the grant (called at grant_call) and every
    // acknowledged keep-alive (sent at `sent`) started a full TTL no earlier than their call.
    int64_t alive_until = grant_call + granted.ttl() * 1'000'000;
    const auto keep_for = std::chrono::milliseconds(1000 + rng() % 2000);
    const auto keep_until = std::chrono::steady_clock::now() + keep_for;
    {
      grpc::ClientContext stream_ctx;
      stream_ctx.set_deadline(std::chrono::system_clock::now() + keep_for +
                              std::chrono::seconds(2));
      auto stream = lease->LeaseKeepAlive(&stream_ctx);
      while (!stop_ && std::chrono::steady_clock::now() < keep_until) {
        etcdserverpb::LeaseKeepAliveRequest req;
        req.set_id(id);
        const int64_t sent = ctx.clock->NowMicros();
        ops_++;
        etcdserverpb::LeaseKeepAliveResponse resp;
        if (!stream->Write(req) || !stream->Read(&resp)) break;
        const int64_t answered = ctx.clock->NowMicros();
        if (resp.ttl() <= 0) {
          // Gone: fine once it may have expired, an anomaly before.
          if (answered < alive_until - kMarginMicros) {
            std::lock_guard<std::mutex> lock(mu_);
            anomalies_.push_back(absl::StrCat(
                "lease: lease ", id, " was reported gone by a keep-alive answered at ", answered,
                " us, never revoked and sure to live until ", alive_until, " us"));
          }
          break;
        }
        alive_until = std::max(alive_until, sent + resp.ttl() * 1'000'000);
        for (const auto& [key, acked] : keys) {
          if (acked < 0) continue;
          etcdserverpb::RangeRequest get;
          get.set_key(key);
          etcdserverpb::RangeResponse got;
          grpc::ClientContext rpc;
          rpc.set_deadline(OpDeadline(ctx));
          const int64_t call = ctx.clock->NowMicros();
          ops_++;
          if (!kv->Range(&rpc, get, &got).ok()) continue;
          const int64_t returned = ctx.clock->NowMicros();
          reads_checked_++;
          // The read took effect somewhere in [call, returned]: all of it must precede the
          // earliest expiry for a missing key to be a violation.
          if (got.kvs_size() == 0 && call > acked && returned < alive_until - kMarginMicros) {
            std::lock_guard<std::mutex> lock(mu_);
            anomalies_.push_back(absl::StrCat(
                "lease: ", key, " (lease ", id, ") was gone at a read called at ", call,
                " us and answered at ", returned, " us, although the lease was sure to live until ",
                alive_until, " us and was never revoked"));
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the keep-alive interval
      }
      stream_ctx.TryCancel();
      stream->Finish();
    }
    // Revoke, or let it expire.
    if (rng() % 2 == 0) {
      etcdserverpb::LeaseRevokeRequest req;
      req.set_id(id);
      etcdserverpb::LeaseRevokeResponse resp;
      grpc::ClientContext rpc;
      rpc.set_deadline(OpDeadline(ctx));
      rpc.set_wait_for_ready(true);
      ops_++;
      const bool ok = lease->LeaseRevoke(&rpc, req, &resp).ok();
      revoked_ += ok ? 1 : 0;
      Note(absl::StrCat(ctx.clock->NowMicros(), " client ", index, " lease ", id,
                        ok ? " revoked" : " revoke unanswered"));
    } else {
      expired_++;
      Note(absl::StrCat(ctx.clock->NowMicros(), " client ", index, " lease ", id,
                        " left to expire"));
    }
  }
}

std::vector<std::string> LeaseWorkload::Check(const RunContext& ctx) {
  std::vector<std::string> anomalies;
  {
    std::lock_guard<std::mutex> lock(mu_);
    anomalies = anomalies_;
  }
  // Every lease is revoked or left to expire: after heal every lease key goes, on every member.
  const absl::Duration deadline = absl::Seconds(kTtlSeconds + 10);
  for (size_t m = 0; m < ctx.endpoints.size(); ++m) {
    auto kv = etcdserverpb::KV::NewStub(MemberChannel(ctx.endpoints[m]));
    const absl::Time until = absl::Now() + deadline;
    std::vector<std::string> left;
    while (true) {
      etcdserverpb::RangeRequest req;
      req.set_key(kPrefix);
      req.set_range_end("lease0");  // '/' + 1
      req.set_serializable(true);
      req.set_keys_only(true);
      etcdserverpb::RangeResponse resp;
      grpc::ClientContext rpc;
      rpc.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      left.clear();
      if (kv->Range(&rpc, req, &resp).ok()) {
        for (const auto& k : resp.kvs()) left.push_back(k.key());
        if (left.empty()) break;
      } else {
        left.push_back("(no answer)");
      }
      if (absl::Now() >= until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!left.empty()) {
      if (left.size() > 5) left.resize(5);
      anomalies.push_back(absl::StrCat("lease: m", m + 1, " still holds lease keys ",
                                       absl::FormatDuration(deadline),
                                       " after heal although every lease was revoked or left "
                                       "to expire: ",
                                       absl::StrJoin(left, " ")));
    }
  }
  return anomalies;
}

std::string LeaseWorkload::Summary() const {
  return absl::StrCat("lease ", leases_.load(), " granted, ", revoked_.load(), " revoked, ",
                      expired_.load(), " left to expire, ", reads_checked_.load(),
                      " reads while kept alive");
}

void LeaseWorkload::WriteArtifacts(const std::string& dir) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ofstream(dir + "/lease-log.txt") << absl::StrJoin(log_, "\n") << "\n";
}

}  // namespace kvd::chaos
