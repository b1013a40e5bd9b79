#include "tests/sim/fault_profile.h"

#include "absl/strings/str_cat.h"

namespace kvd::sim {

const char* NemesisActionName(NemesisAction a) {
  switch (a) {
    case NemesisAction::kCrash:
      return "crash";
    case NemesisAction::kPartition:
      return "partition";
    case NemesisAction::kPause:
      return "pause";
    case NemesisAction::kLossBurst:
      return "loss-burst";
    case NemesisAction::kTransferLeader:
      return "transfer-leader";
    case NemesisAction::kConfChange:
      return "conf-change";
    case NemesisAction::kSnapshot:
      return "snapshot";
  }
  return "?";
}

FaultProfile ChooseProfile(SimRandom& rng, int nodes) {
  FaultProfile p;
  // Background network: mostly clean, sometimes lossy; delays well under a tick, with a few
  // long detours that reorder.
  p.rates.drop_per_mille = rng.PerMille(500) ? 0 : static_cast<int>(rng.Range(1, 80));
  p.rates.duplicate_per_mille = rng.PerMille(600) ? 0 : static_cast<int>(rng.Range(1, 60));
  p.rates.slow_per_mille = static_cast<int>(rng.Range(0, 60));
  p.rates.min_delay = 1;
  p.rates.max_delay = rng.Range(2, kTickUnits / 2);
  p.rates.max_slow_delay = rng.Range(kTickUnits, 6 * kTickUnits);
  p.burst_rates = p.rates;
  p.burst_rates.drop_per_mille = static_cast<int>(rng.Range(200, 700));
  p.burst_rates.duplicate_per_mille = static_cast<int>(rng.Range(0, 300));
  p.burst_rates.slow_per_mille = static_cast<int>(rng.Range(50, 300));

  p.nemesis_gap_min = rng.Range(1, 5) * kTickUnits;
  p.nemesis_gap_max = p.nemesis_gap_min + rng.Range(2, 20) * kTickUnits;
  for (int& w : p.weight) w = rng.PerMille(300) ? 0 : static_cast<int>(rng.Range(1, 10));
  // Some seeds move leadership around all the time.
  if (rng.PerMille(300)) p.weight[static_cast<int>(NemesisAction::kTransferLeader)] = 20;
  // Every seed has at least one kind of trouble.
  if (p.weight[static_cast<int>(NemesisAction::kCrash)] +
          p.weight[static_cast<int>(NemesisAction::kPartition)] ==
      0) {
    p.weight[static_cast<int>(rng.Coin() ? NemesisAction::kCrash : NemesisAction::kPartition)] = 5;
  }
  p.fault_min = rng.Range(1, 5) * kTickUnits;
  p.fault_max = p.fault_min + rng.Range(5, 40) * kTickUnits;
  if (rng.PerMille(300)) {
    // A flapping network: partitions of every shape come and go within a few ticks.
    p.nemesis_gap_min = rng.Range(3, kTickUnits);
    p.nemesis_gap_max = p.nemesis_gap_min + rng.Range(kTickUnits, 3 * kTickUnits);
    p.fault_min = rng.Range(3, kTickUnits);
    p.fault_max = p.fault_min + rng.Range(kTickUnits, 4 * kTickUnits);
    p.weight[static_cast<int>(NemesisAction::kPartition)] += 20;
  }
  p.crash_mid_write_per_mille = static_cast<int>(rng.Range(200, 900));
  p.power_loss_per_mille = static_cast<int>(rng.Range(0, 600));
  p.new_leader_crash_per_mille = static_cast<int>(rng.PerMille(500) ? 0 : rng.Range(100, 700));
  p.new_leader_isolate_per_mille = static_cast<int>(rng.PerMille(500) ? 0 : rng.Range(100, 700));
  p.allow_majority_down = rng.PerMille(200);
  p.disk_min = 1;
  p.disk_max = rng.Range(1, kTickUnits);
  p.slow_disk_per_mille = static_cast<int>(rng.PerMille(500) ? 0 : rng.Range(200, 600));
  p.slow_disk_factor = static_cast<int>(rng.Range(2, 8));
  p.disk_stall_per_mille = static_cast<int>(rng.PerMille(500) ? 0 : rng.Range(10, 150));
  p.disk_stall_max = rng.Range(1, 4) * kTickUnits;
  p.apply_early_per_mille = static_cast<int>(rng.Range(0, 500));
  p.apply_late_per_mille = static_cast<int>(rng.Range(0, 500));
  p.snapshot_every = rng.PerMille(300) ? 0 : static_cast<uint64_t>(rng.Range(3, 40));
  p.compaction_keep = static_cast<uint64_t>(rng.PerMille(500) ? 0 : rng.Range(1, 10));
  p.tick_skew = static_cast<int>(rng.Range(0, 2));
  p.client_think_max = rng.Range(0, 3 * kTickUnits);
  p.keys = static_cast<int>(rng.Range(1, nodes > 3 ? 4 : 3));
  p.max_size_per_msg = static_cast<uint64_t>(rng.PerMille(300) ? 1 << 20 : rng.Range(1, 100));
  p.max_inflight_msgs = static_cast<size_t>(rng.PerMille(300) ? 256 : rng.Range(1, 4));
  p.max_committed_size_per_ready =
      static_cast<uint64_t>(rng.PerMille(300) ? 16 << 20 : rng.Range(1, 100));
  return p;
}

NemesisAction PickAction(const FaultProfile& p, SimRandom& rng) {
  int total = 0;
  for (int w : p.weight) total += w;
  int64_t r = rng.Range(0, total - 1);
  for (int i = 0; i < kNemesisActionCount; ++i) {
    if (r < p.weight[i]) return static_cast<NemesisAction>(i);
    r -= p.weight[i];
  }
  return NemesisAction::kCrash;
}

std::string FaultProfile::Describe() const {
  std::string w;
  for (int i = 0; i < kNemesisActionCount; ++i) {
    if (weight[i] > 0) {
      absl::StrAppend(&w, w.empty() ? "" : ",", NemesisActionName(static_cast<NemesisAction>(i)),
                      "=", weight[i]);
    }
  }
  return absl::StrCat(
      "drop=", rates.drop_per_mille, "pm dup=", rates.duplicate_per_mille,
      "pm slow=", rates.slow_per_mille, "pm delay=", rates.min_delay, "..", rates.max_delay, "/",
      rates.max_slow_delay, " nemesis every ", nemesis_gap_min, "..", nemesis_gap_max, " [", w,
      "] faults last ", fault_min, "..", fault_max, " mid-write=", crash_mid_write_per_mille,
      "pm young-leader-crash=", new_leader_crash_per_mille,
      "pm young-leader-cut=", new_leader_isolate_per_mille, "pm power-loss=", power_loss_per_mille,
      "pm majority-down=", allow_majority_down ? "yes" : "no", " disk=", disk_min, "..", disk_max,
      " slow-disk=", slow_disk_per_mille, "pmx", slow_disk_factor, " stall=", disk_stall_per_mille,
      "pm<=", disk_stall_max, " apply-early=", apply_early_per_mille,
      "pm apply-late=", apply_late_per_mille, "pm snapshot-every=", snapshot_every,
      " keep=", compaction_keep, " skew=", tick_skew, " think<=", client_think_max, " keys=", keys,
      " msg-bytes=", max_size_per_msg, " inflight=", max_inflight_msgs,
      " ready-bytes=", max_committed_size_per_ready);
}

}  // namespace kvd::sim
