// One deterministic simulation run of a kvd Raft cluster: everything follows from the seed.
//
// The world is a discrete-event simulation. Time is an integer (kTickUnits per node tick); an
// event queue ordered by (time, insertion order) holds node ticks, message deliveries, the ends
// of disk writes, client requests, replies and timers, and fault actions. One step = one event.
// One PRNG, seeded from the seed, draws every random choice; each RawNode's Config::seed is
// derived from the seed, the node's id and its incarnation. No threads, clocks, sleeps or files.
//
// A run has three phases:
//  1. chaos (options.steps steps): clients issue operations while the nemesis crashes nodes
//     (often between GetReady and the end of the disk write), partitions the network (symmetric,
//     one-way, bridge, leader isolated), pauses nodes, bursts message loss, transfers
//     leadership, changes membership and snapshots / compacts logs — each fault healing on its
//     own after a while;
//  2. heal: every fault is lifted and every member restarted; within options.liveness_ticks a
//     leader must exist and a fresh proposal must be applied by every member of its
//     configuration (liveness);
//  3. drain: clients finish (or give up on) their outstanding operations.
// After every step the SafetyMonitor checks the Raft safety properties; at the end the client
// history goes to the linearizability checker.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace kvd::sim {

struct SimOptions {
  int nodes = 3;                 // 3 or 5 original voters
  uint64_t steps = 3000;         // steps of the chaos phase
  bool verbose = false;          // a trace line per step (and the core's own log lines)
  int64_t liveness_ticks = 150;  // bound on reaching a leader and a committed proposal
  int64_t drain_ticks = 60;      // time clients get to finish after liveness
};

struct SeedOutcome {
  uint64_t seed = 0;
  bool ok = true;
  std::string property;  // what was violated, when !ok
  std::string detail;
  uint64_t step = 0;  // the step at which it was detected
  // Figures about the run, for summaries.
  uint64_t steps_run = 0;
  uint64_t ops_completed = 0;
  uint64_t ops_indeterminate = 0;
  uint64_t elections = 0;
  uint64_t crashes = 0;
  uint64_t snapshots_installed = 0;
  uint64_t conf_changes_applied = 0;
  int64_t liveness_ticks_used = 0;
};

// Runs one seed. When trace is not null, writes the verbose trace there.
SeedOutcome RunSeed(const SimOptions& options, uint64_t seed, std::ostream* trace);

// The command line that replays one seed with a trace.
std::string ReplayCommand(const SimOptions& options, uint64_t seed);

}  // namespace kvd::sim
