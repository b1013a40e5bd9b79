// One chaos run: a fresh 3-member cluster, the workloads' clients on every member, the nemesis
// for `duration`, then heal, convergence and the workloads' checks. A failing run leaves its
// evidence (histories, nemesis timeline, member logs, the replay command) in a directory.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/chaos/network.h"

namespace kvd::chaos {

struct RunConfig {
  int members = 3;
  absl::Duration duration = absl::Seconds(20);
  std::set<std::string> nemesis = {"kill", "pause", "restart", "partition"};
  std::set<std::string> workloads = {"register", "ledger", "watch", "lease"};
  bool stale_reads = false;  // RegisterOptions::serializable_reads
  std::string kvd_binary;    // server/kvd of the build directory
  int election_timeout_ms = 500;
  int heartbeat_interval_ms = 50;
  std::string keep_dir;     // where failing runs leave their evidence
  std::string replay_base;  // the command line, without --runs/--seed, to replay a run
};

struct RunResult {
  uint64_t ops = 0;
  std::vector<std::string> anomalies;
  std::map<std::string, int> faults;
  std::string summary;  // one line for people
  std::string kept_in;  // the evidence directory of a failing run, else empty
};

// network may be null (no root): partitions are then skipped.
RunResult RunOnce(const RunConfig& config, NetworkLab* network, int index, uint64_t seed);

}  // namespace kvd::chaos
