// Convergence after heal: the checks a user would make once every fault is repaired.
//   - every member answers again within 30 s (a restarted member first replays its WAL);
//   - some member accepts a write within max(3 s, 6 election timeouts) after that;
//   - every member names the same leader and a write through each member succeeds within 15 s
//     (a member that was cut off may wait for its peers' TCP retransmissions);
//   - all members reach the same revision within a deadline, and HashKV at that revision gives
//     the same hash (and compact revision) on every member.
// Returns anomalies, one sentence each; *summary receives the measured times for the run's line.
#pragma once

#include <string>
#include <vector>

#include "tests/chaos/workload.h"
#include "tests/harness/cluster.h"

namespace kvd::chaos {

std::vector<std::string> CheckConvergence(testing::Cluster* cluster, const RunContext& ctx,
                                          std::string* summary);

}  // namespace kvd::chaos
