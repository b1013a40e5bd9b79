// Ledger workload (durability): clients spread over every member each put a stream of keys that
// are never written twice ("led/<client>/<seq>", value "<client>-<seq>"). After heal, every member
// is read on its own (serializable Range over the prefix, paged), and:
//   - every write that was acknowledged is present on every member with its value;
//   - every key present was written by a client (acknowledged or not), with the value written.
// A write that got no answer may be present or absent. Check must run after the members have
// converged (run_once.cc checks convergence first), else a lagging member looks like a loss.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/chaos/workload.h"

namespace kvd::chaos {

class LedgerWorkload : public Workload {
 public:
  explicit LedgerWorkload(int clients) : clients_(clients) {}
  ~LedgerWorkload() override { Stop(); }

  std::string name() const override { return "ledger"; }
  void Start(const RunContext& ctx) override;
  void Stop() override;
  std::vector<std::string> Check(const RunContext& ctx) override;
  void WriteArtifacts(const std::string& dir) const override;
  uint64_t ops() const override { return ops_.load(); }
  uint64_t acknowledged() const;
  std::string Summary() const override;

 private:
  struct Write {
    std::string value;
    bool acknowledged = false;
    int64_t revision = 0;  // from the answer, when acknowledged
  };
  void Client(int index, const RunContext& ctx);

  int clients_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ops_{0};
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::map<std::string, Write> writes_;  // by key; guarded by mu_
};

}  // namespace kvd::chaos
