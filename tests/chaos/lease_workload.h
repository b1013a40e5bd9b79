// Lease workload: one client per member runs lease cycles through its member. A cycle grants a
// lease (TTL 3 s), puts two keys bound to it, keeps it alive for 1-3 s over a LeaseKeepAlive
// stream while reading its keys back, then either revokes it or lets it expire (stops the
// keep-alives). Checks:
//   - keys vanish only after revoke or expiry: the lease cannot expire before alive_until, the
//     latest of (grant call + TTL) and (send time of an acknowledged keep-alive + TTL), since the
//     leader granted or renewed it no earlier than those calls. A linearizable read called after
//     the key's put was acknowledged and answered more than a margin before alive_until must find
//     the key; a keep-alive answered that early must not find the lease gone (TTL 0);
//   - and always then: after heal, every key of every lease (revoked, expired, or whose revoke
//     got no answer and which therefore expires) is gone from every member within TTL + 10 s.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/chaos/workload.h"

namespace kvd::chaos {

class LeaseWorkload : public Workload {
 public:
  explicit LeaseWorkload(int clients) : clients_(clients) {}
  ~LeaseWorkload() override { Stop(); }

  std::string name() const override { return "lease"; }
  void Start(const RunContext& ctx) override;
  void Stop() override;
  std::vector<std::string> Check(const RunContext& ctx) override;
  void WriteArtifacts(const std::string& dir) const override;
  uint64_t ops() const override { return ops_.load(); }
  std::string Summary() const override;

  static constexpr int64_t kTtlSeconds = 3;

 private:
  void Client(int index, const RunContext& ctx);
  void Note(const std::string& line);

  int clients_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ops_{0};
  std::atomic<uint64_t> leases_{0}, revoked_{0}, expired_{0}, reads_checked_{0};
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::vector<std::string> log_;        // what the clients did, for the evidence; guarded by mu_
  std::vector<std::string> anomalies_;  // found while running; guarded by mu_
};

}  // namespace kvd::chaos
