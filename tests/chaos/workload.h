// The workload interface of the chaos suite: a workload runs client threads against the members
// of a cluster while the nemesis injects faults, then, once the cluster is healed and converged,
// judges what its clients saw. The runner (run_once.h) drives every workload the same way:
//
//   Start(context)  -> client threads work (the nemesis runs meanwhile)
//   Stop()          -> client threads finish their current operation and exit
//   Check(context)  -> after heal: anomalies, each one a sentence a person can act on
//   WriteArtifacts  -> the history for a failing run's directory
//
// A workload owns its client connections and threads; Start, Stop, Check and WriteArtifacts are
// called from the runner's thread, in that order, once each. ops() may be called at any time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"

namespace kvd::chaos {

// One monotonic clock for the whole run, in microseconds since the run started: client histories
// and the nemesis timeline share it, so a person can line a fault up with the operations around it.
class RunClock {
 public:
  RunClock() : start_(std::chrono::steady_clock::now()) {}
  int64_t NowMicros() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                 start_)
        .count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// What a workload knows about the run it is part of.
struct RunContext {
  std::vector<std::string> endpoints;  // "host:port" of each member's client listener
  uint64_t seed = 0;                   // the workload derives its own random choices from it
  const RunClock* clock = nullptr;
  int election_timeout_ms = 500;
  // Deadline of one client operation; an operation without an answer by then is indeterminate.
  std::chrono::milliseconds op_timeout{2000};
};

// A channel to one member that reconnects quickly after the member comes back (gRPC's default
// reconnect backoff grows to two minutes, far longer than a fault lasts).
std::shared_ptr<grpc::Channel> MemberChannel(const std::string& endpoint);

// A deadline op_timeout from now, for a client context.
inline std::chrono::system_clock::time_point OpDeadline(const RunContext& ctx) {
  return std::chrono::system_clock::now() + ctx.op_timeout;
}

class Workload {
 public:
  virtual ~Workload() = default;
  virtual std::string name() const = 0;
  virtual void Start(const RunContext& ctx) = 0;
  virtual void Stop() = 0;
  virtual std::vector<std::string> Check(const RunContext& ctx) = 0;
  virtual void WriteArtifacts(const std::string& dir) const = 0;
  // Client operations issued so far (answered or not).
  virtual uint64_t ops() const = 0;
  // A few figures for the run's line, after Check (e.g. "ledger 812 acknowledged").
  virtual std::string Summary() const = 0;
};

}  // namespace kvd::chaos
