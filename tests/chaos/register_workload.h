// Register workload: clients spread over every member read, write and compare-and-swap a few keys
// with values no two writes share; the linearizability checker (tests/linearizability) judges
// the whole history. A write that got no answer (timeout, error, member gone) is recorded as
// indeterminate: it may have taken effect at any moment after its call, or never. A read without
// an answer is dropped (it changed nothing). Reads are linearizable Range requests; a CAS is a
// Txn comparing the key's value (or, for "absent", its create revision with 0) and putting the new
// value on success.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/chaos/workload.h"
#include "tests/linearizability/history.h"

namespace kvd::chaos {

struct RegisterOptions {
  int clients = 6;  // client i talks to member i % members only
  int keys = 8;
  // Serializable reads answer from the member's own state and may be stale: they are NOT
  // linearizable, and the checker must say so under partitions. A check of the checks only.
  bool serializable_reads = false;
};

class RegisterWorkload : public Workload {
 public:
  explicit RegisterWorkload(RegisterOptions options) : options_(options) {}
  ~RegisterWorkload() override { Stop(); }

  std::string name() const override { return "register"; }
  void Start(const RunContext& ctx) override;
  void Stop() override;
  std::vector<std::string> Check(const RunContext& ctx) override;
  void WriteArtifacts(const std::string& dir) const override;
  uint64_t ops() const override { return ops_.load(); }
  std::string Summary() const override;

  // After Check: keys whose search ran out of budget (never counted as anomalies).
  size_t unknown_keys() const { return unknown_keys_; }

 private:
  void Client(int index, const RunContext& ctx);

  RegisterOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ops_{0};
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::vector<linearizability::Operation> history_;  // guarded by mu_
  std::string report_;                               // the checker's report, after Check
  size_t unknown_keys_ = 0;
};

}  // namespace kvd::chaos
