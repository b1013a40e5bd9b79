// A sweep of simulator seeds (see simulation.h): every seed must finish without a safety,
// liveness or linearizability violation. Compiled once per cluster size, with KVD_SIM_NODES,
// KVD_SIM_FIRST_SEED, KVD_SIM_SEEDS and KVD_SIM_STEPS set by CMake. A failure names the seed,
// the step, the property and the command that replays it with a trace.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "tests/sim/simulation.h"

namespace kvd::sim {
namespace {

TEST(SimulatorSeeds, EverySeedKeepsRaftSafeLiveAndLinearizable) {
  SimOptions options;
  options.nodes = KVD_SIM_NODES;
  options.steps = KVD_SIM_STEPS;
  const uint64_t first = KVD_SIM_FIRST_SEED;
  const uint64_t count = KVD_SIM_SEEDS;
  std::printf("seeds %llu..%llu, %d nodes, %llu chaos steps each\n",
              static_cast<unsigned long long>(first),
              static_cast<unsigned long long>(first + count - 1), options.nodes,
              static_cast<unsigned long long>(options.steps));
  auto started = std::chrono::steady_clock::now();
  uint64_t violations = 0, steps = 0, ops = 0, crashes = 0, snapshots = 0, conf_changes = 0;
  int64_t slowest_recovery = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    SeedOutcome out = RunSeed(options, seed, nullptr);
    steps += out.steps_run;
    ops += out.ops_completed;
    crashes += out.crashes;
    snapshots += out.snapshots_installed;
    conf_changes += out.conf_changes_applied;
    slowest_recovery = std::max(slowest_recovery, out.liveness_ticks_used);
    if (!out.ok) {
      ++violations;
      ADD_FAILURE() << "seed " << seed << ": VIOLATION of " << out.property << " at step "
                    << out.step << ": " << out.detail
                    << "\n  replay: " << ReplayCommand(options, seed);
    }
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "%llu steps, %llu operations, %llu crashes, %llu snapshots installed, %llu conf "
      "changes applied, slowest recovery %lld ticks, %.1f s\n",
      static_cast<unsigned long long>(steps), static_cast<unsigned long long>(ops),
      static_cast<unsigned long long>(crashes), static_cast<unsigned long long>(snapshots),
      static_cast<unsigned long long>(conf_changes), static_cast<long long>(slowest_recovery),
      seconds);
  std::printf("%llu seeds, %llu violations\n", static_cast<unsigned long long>(count),
              static_cast<unsigned long long>(violations));
}

}  // namespace
}  // namespace kvd::sim
