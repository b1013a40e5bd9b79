// SimNetwork: the simulated links between nodes. It decides the fate of each message — lost,
// delivered once, or delivered twice — and how long each copy travels; the simulation turns
// those into delivery events. Random delays reorder messages.
//
// Faults: a per-seed loss / duplication / slowness rate, and blocked directed links. A message
// is lost when its link is blocked at send time or at delivery time (a partition that forms
// while it travels cuts it too). A symmetric partition blocks both directions of each cut link;
// a one-way fault blocks one. Blocks are counted, so overlapping faults heal independently.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "raft/types.h"
#include "tests/sim/sim_random.h"

namespace kvd::sim {

using SimTime = int64_t;

struct LinkRates {
  int drop_per_mille = 0;
  int duplicate_per_mille = 0;
  int slow_per_mille = 0;  // a copy takes a long detour (reordering it behind later messages)
  SimTime min_delay = 1;
  SimTime max_delay = 4;
  SimTime max_slow_delay = 40;
};

class SimNetwork {
 public:
  using Link = std::pair<raft::NodeId, raft::NodeId>;  // (from, to)

  void set_rates(const LinkRates& rates) { rates_ = rates; }
  const LinkRates& rates() const { return rates_; }

  void Block(raft::NodeId from, raft::NodeId to) { ++blocked_[{from, to}]; }
  void Unblock(raft::NodeId from, raft::NodeId to);
  bool Blocked(raft::NodeId from, raft::NodeId to) const { return blocked_.count({from, to}) > 0; }
  // Removes every block (the faults that set them are forgotten).
  void UnblockAll() { blocked_.clear(); }
  size_t blocked_links() const { return blocked_.size(); }

  // The delays after which copies of a message sent now on (from, to) arrive; empty when it is
  // lost.
  std::vector<SimTime> Route(raft::NodeId from, raft::NodeId to, SimRandom& rng) const;

  // The blocked links, for traces: "1>2 2>1 ...".
  std::string DescribeBlocks() const;

 private:
  LinkRates rates_;
  std::map<Link, int> blocked_;
};

}  // namespace kvd::sim
