// The nemesis: a thread that injects one fault at a time into a running cluster, holds it, then
// repairs it, and writes down what it did and when (on the run's clock) in a timeline.
//
// Faults (family in brackets, as --nemesis names them):
//   kill-random       [kill]       SIGKILL a random member, later start it again on its data
//   kill-leader       [kill]       the same for the current leader
//   pause-leader      [pause]      SIGSTOP the leader for 2-4 election timeouts, then SIGCONT
//   restart           [restart]    SIGTERM a random member, wait for its exit, start it again
//   partition-leader  [partition]  cut the leader off from both others
//   partition-split   [partition]  a random member alone (minority) against the other two
//   partition-bridge  [partition]  two members cannot reach each other, the third sees both
//   partition-oneway  [partition]  packets from one member to another are dropped, not back
//
// A member that exits although no fault stopped it (a crash, a sanitizer report) is an anomaly,
// reported by HealAll, and started again.
//
// Thread-safety: the nemesis runs on the runner's thread (Run blocks for the experiment), the
// thread that started the cluster: members die with the thread that forked them (the harness sets
// PR_SET_PDEATHSIG), so they must not be restarted from a thread that ends before the run does.
// Only the runner's thread may call any method.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/chaos/network.h"
#include "tests/chaos/workload.h"
#include "tests/harness/cluster.h"

namespace kvd::chaos {

// Every fault name, and the family each belongs to.
const std::vector<std::pair<std::string, std::string>>& FaultKinds();

struct NemesisOptions {
  std::set<std::string> families = {"kill", "pause", "restart", "partition"};
  uint64_t seed = 0;
  int election_timeout_ms = 500;
};

class Nemesis {
 public:
  // network may be null: the partition faults are then never chosen.
  Nemesis(testing::Cluster* cluster, NetworkLab* network, const RunClock* clock,
          NemesisOptions options);

  // Injects faults one after another until `until`, repairing each before the next; the fault in
  // progress at `until` is repaired at once.
  void Run(absl::Time until);
  // Resumes, restarts and reconnects every member; returns anomalies (members that exited on their
  // own, members that did not shut down cleanly). Call after Run.
  std::vector<std::string> HealAll();
  // Members that exited on their own since the last look (restarted); for after the checks.
  std::vector<std::string> ReapUnexpectedExits();

  // One line per event: "<micros> <event>".
  const std::vector<std::string>& timeline() const { return timeline_; }
  // How many faults of each kind were injected.
  const std::map<std::string, int>& counts() const { return counts_; }

 private:
  void Log(const std::string& event);
  // Sleeps for d or until the end of the run, whichever is first; false when the run is over.
  bool Hold(std::chrono::milliseconds d);
  int FindLeader();  // index of the member the highest-term answer names, or a random member
  int RandomMember();
  void Inject(const std::string& kind);

  testing::Cluster* cluster_;
  NetworkLab* network_;
  const RunClock* clock_;
  NemesisOptions options_;
  std::mt19937_64 rng_;
  std::vector<std::string> kinds_;  // enabled fault kinds
  std::vector<bool> down_;          // members the nemesis stopped on purpose
  std::vector<std::string> crashes_;

  absl::Time until_ = absl::InfinitePast();

  std::vector<std::string> timeline_;
  std::map<std::string, int> counts_;
};

}  // namespace kvd::chaos
