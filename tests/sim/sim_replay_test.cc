// Determinism: a seed replayed gives a byte-identical verbose trace (and the same verdict), so a
// failing seed can be debugged from its command line. Different seeds give different runs.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "tests/sim/simulation.h"

namespace kvd::sim {
namespace {

std::string TraceOf(const SimOptions& options, uint64_t seed, SeedOutcome* out) {
  std::ostringstream trace;
  *out = RunSeed(options, seed, &trace);
  return trace.str();
}

void ExpectReplaysIdentically(int nodes, uint64_t seed) {
  SimOptions options;
  options.nodes = nodes;
  options.steps = 1500;
  options.verbose = true;
  SeedOutcome a, b;
  std::string first = TraceOf(options, seed, &a);
  std::string second = TraceOf(options, seed, &b);
  ASSERT_GT(first.size(), 10000u) << "suspiciously short trace for seed " << seed;
  EXPECT_NE(first.find("liveness: leader"), std::string::npos) << "seed " << seed;
  EXPECT_TRUE(first == second)
      << "seed " << seed << " (" << nodes
      << " nodes) replays differently; first difference at byte "
      << std::mismatch(first.begin(), first.end(), second.begin(), second.end()).first -
             first.begin();
  EXPECT_EQ(a.ok, b.ok);
  EXPECT_EQ(a.steps_run, b.steps_run);
  // Tracing must not change the run itself.
  SeedOutcome quiet = RunSeed(options, seed, nullptr);
  EXPECT_EQ(quiet.steps_run, a.steps_run) << "seed " << seed;
  EXPECT_EQ(quiet.ops_completed, a.ops_completed) << "seed " << seed;
}

TEST(SimulatorReplay, SameSeedSameTrace3Nodes) {
  for (uint64_t seed : {1u, 2u, 3u}) ExpectReplaysIdentically(3, seed);
}

TEST(SimulatorReplay, SameSeedSameTrace5Nodes) {
  for (uint64_t seed : {10u, 11u}) ExpectReplaysIdentically(5, seed);
}

TEST(SimulatorReplay, DifferentSeedsDiffer) {
  SimOptions options;
  options.steps = 500;
  SeedOutcome a, b;
  EXPECT_NE(TraceOf(options, 1, &a), TraceOf(options, 2, &b));
}

}  // namespace
}  // namespace kvd::sim
