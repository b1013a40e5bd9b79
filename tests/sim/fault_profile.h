// FaultProfile: how hostile one seed's world is. Each seed draws its own mix — some seeds crash
// nodes mid-write all the time, some partition, some only lose messages, some reconfigure — so
// that a few thousand seeds cover many combinations rather than one average.
#pragma once

#include <cstdint>
#include <string>

#include "tests/sim/sim_network.h"
#include "tests/sim/sim_random.h"

namespace kvd::sim {

// One tick of a node's clock, in simulated time units. Message delays and disk latencies are a
// fraction of it, so many messages fit in an election timeout.
inline constexpr SimTime kTickUnits = 10;

enum class NemesisAction : uint8_t {
  kCrash,           // a node crashes (often mid-write) and restarts later
  kPartition,       // a symmetric, one-way or bridge partition that heals later
  kPause,           // a node freezes (no ticks, no processing) and resumes later
  kLossBurst,       // the network drops and duplicates much more for a while
  kTransferLeader,  // a leader transfer to a random voter
  kConfChange,      // add / promote / remove a member
  kSnapshot,        // a node snapshots its state machine and compacts its log
};
inline constexpr int kNemesisActionCount = 7;
const char* NemesisActionName(NemesisAction a);

struct FaultProfile {
  LinkRates rates;              // the network's background behaviour
  LinkRates burst_rates;        // during a loss burst
  SimTime nemesis_gap_min = 0;  // time between nemesis actions
  SimTime nemesis_gap_max = 0;
  int weight[kNemesisActionCount] = {};  // relative frequency of each action; 0 disables it
  SimTime fault_min = 0;                 // how long a crash, partition, pause or burst lasts
  SimTime fault_max = 0;
  int crash_mid_write_per_mille = 0;     // a crash waits for the node's next disk write
  int power_loss_per_mille = 0;          // a crash also loses unsynced writes
  int new_leader_crash_per_mille = 0;    // a newly elected leader crashes soon after
  int new_leader_isolate_per_mille = 0;  // ...or is cut off the moment it wins
  bool allow_majority_down = false;      // crashes may take down a majority at once
  SimTime disk_min = 1;                  // latency of a Ready's write (step 2)
  SimTime disk_max = 1;
  int slow_disk_per_mille = 0;   // a node gets a disk this many times slower...
  int slow_disk_factor = 1;      // ...by this factor
  int disk_stall_per_mille = 0;  // a write stalls (a slow fsync) for up to disk_stall_max
  SimTime disk_stall_max = 0;
  // When a Ready's committed entries are applied: at GetReady (early), after step 2 and before
  // Advance (the default), or after Advance, at a later event (late).
  int apply_early_per_mille = 0;
  int apply_late_per_mille = 0;
  uint64_t snapshot_every = 0;   // entries applied between automatic snapshots (0: never)
  uint64_t compaction_keep = 0;  // entries kept behind a snapshot when compacting
  int tick_skew = 0;             // each node's tick period is kTickUnits +- this
  SimTime client_think_max = 0;  // pause between a client's operations
  int keys = 0;
  // Raft flow control, small so that replication spans many messages and Readys.
  uint64_t max_size_per_msg = 0;
  size_t max_inflight_msgs = 0;
  uint64_t max_committed_size_per_ready = 0;

  std::string Describe() const;
};

// Draws a profile for a cluster of `nodes` nodes.
FaultProfile ChooseProfile(SimRandom& rng, int nodes);

NemesisAction PickAction(const FaultProfile& p, SimRandom& rng);

}  // namespace kvd::sim
