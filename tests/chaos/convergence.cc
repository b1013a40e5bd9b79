#include "tests/chaos/convergence.h"

#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace kvd::chaos {
namespace {

// Polls cond every 20 ms until it holds or the deadline passes.
template <typename Cond>
bool WaitFor(absl::Duration timeout, Cond cond) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!cond()) {
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace

std::vector<std::string> CheckConvergence(testing::Cluster* cluster, const RunContext& ctx,
                                          std::string* summary) {
  std::vector<std::string> anomalies;
  const int n = cluster->size();
  const absl::Time healed = absl::Now();

  // Every member answers again (a restarted member replays its WAL first).
  std::string problem;
  if (!WaitFor(absl::Seconds(30), [&] {
        for (int i = 0; i < n; ++i) {
          absl::StatusOr<etcdserverpb::StatusResponse> s = cluster->Status(i);
          if (!s.ok()) {
            problem = std::string(s.status().message());
            return false;
          }
        }
        return true;
      })) {
    return {absl::StrCat("convergence: not every member answers 30 s after heal: ", problem)};
  }
  const absl::Time answering = absl::Now();

  // Availability: some member accepts a write within a few election timeouts (at least 5 s: on
  // two cores a sanitizer build may need a few election rounds after a heal).
  const absl::Duration available_deadline =
      std::max(absl::Seconds(5), absl::Milliseconds(10 * ctx.election_timeout_ms));
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> kvs;
  for (int i = 0; i < n; ++i)
    kvs.push_back(etcdserverpb::KV::NewStub(MemberChannel(ctx.endpoints[i])));
  auto put = [&](int i, std::chrono::milliseconds timeout) {
    etcdserverpb::PutRequest req;
    req.set_key(absl::StrCat("heal/m", i + 1));
    req.set_value("ok");
    etcdserverpb::PutResponse resp;
    grpc::ClientContext rpc;
    rpc.set_deadline(std::chrono::system_clock::now() + timeout);
    return kvs[i]->Put(&rpc, req, &resp);
  };
  int next = 0;
  grpc::Status last;
  if (!WaitFor(available_deadline, [&] {
        last = put(next, std::chrono::milliseconds(2 * ctx.election_timeout_ms));
        next = (next + 1) % n;
        return last.ok();
      })) {
    anomalies.push_back(absl::StrCat("convergence: no member accepted a write within ",
                                     absl::FormatDuration(available_deadline),
                                     " after all answered; last error: ", last.error_message()));
  }
  const absl::Time available = absl::Now();

  // Agreement: every member names the same leader and forwards a write to it. A member that was
  // cut off may wait for its peers' TCP retransmissions before it hears the leader again, hence
  // the longer deadline; the time it took is in the summary.
  const absl::Duration agree_deadline = absl::Seconds(15);
  absl::StatusOr<int> leader = cluster->WaitForLeader(agree_deadline);
  if (!leader.ok()) {
    anomalies.push_back(absl::StrCat("convergence: no leader all members agree on within ",
                                     absl::FormatDuration(agree_deadline),
                                     " after they answer: ", leader.status().message()));
  }
  for (int i = 0; i < n; ++i) {
    if (!WaitFor(agree_deadline, [&] {
          last = put(i, ctx.op_timeout);
          return last.ok();
        })) {
      anomalies.push_back(absl::StrCat("convergence: no write through m", i + 1,
                                       " succeeded within ", absl::FormatDuration(agree_deadline),
                                       " after heal; last error: ", last.error_message()));
    }
  }
  const absl::Time writable = absl::Now();

  // Same revision, then same HashKV.
  std::vector<int64_t> revisions(n, -1);
  const bool same_revision = WaitFor(absl::Seconds(20), [&] {
    for (int i = 0; i < n; ++i) {
      absl::StatusOr<etcdserverpb::StatusResponse> s = cluster->Status(i);
      revisions[i] = s.ok() ? s->header().revision() : -1;
    }
    for (int i = 1; i < n; ++i) {
      if (revisions[i] != revisions[0] || revisions[i] < 0) return false;
    }
    return true;
  });
  if (!same_revision) {
    std::string seen;
    for (int i = 0; i < n; ++i) absl::StrAppend(&seen, " m", i + 1, "=", revisions[i]);
    anomalies.push_back(
        absl::StrCat("convergence: members at different revisions 20 s after heal:", seen));
  } else {
    std::vector<std::string> hashes;
    for (int i = 0; i < n; ++i) {
      auto maintenance = etcdserverpb::Maintenance::NewStub(MemberChannel(ctx.endpoints[i]));
      etcdserverpb::HashKVRequest req;
      req.set_revision(revisions[0]);
      etcdserverpb::HashKVResponse resp;
      grpc::ClientContext rpc;
      rpc.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      grpc::Status st = maintenance->HashKV(&rpc, req, &resp);
      hashes.push_back(st.ok() ? absl::StrCat(resp.hash(), "/", resp.compact_revision())
                               : absl::StrCat("error: ", st.error_message()));
    }
    for (int i = 1; i < n; ++i) {
      if (hashes[i] != hashes[0]) {
        std::string seen;
        for (int j = 0; j < n; ++j) absl::StrAppend(&seen, " m", j + 1, "=", hashes[j]);
        anomalies.push_back(absl::StrCat("convergence: HashKV at revision ", revisions[0],
                                         " differs (hash/compact revision):", seen));
        break;
      }
    }
  }
  *summary =
      absl::StrCat("after heal: answering ", absl::FormatDuration(answering - healed), ", a write ",
                   absl::FormatDuration(available - answering), ", writes through all ",
                   absl::FormatDuration(writable - answering), "; revision ", revisions[0]);
  return anomalies;
}

}  // namespace kvd::chaos
