#include "tests/sim/sim_network.h"

#include "absl/strings/str_cat.h"

namespace kvd::sim {

void SimNetwork::Unblock(raft::NodeId from, raft::NodeId to) {
  auto it = blocked_.find({from, to});
  if (it == blocked_.end()) return;
  if (--it->second == 0) blocked_.erase(it);
}

std::vector<SimTime> SimNetwork::Route(raft::NodeId from, raft::NodeId to, SimRandom& rng) const {
  std::vector<SimTime> delays;
  if (Blocked(from, to) || rng.PerMille(rates_.drop_per_mille)) return delays;
  int copies = rng.PerMille(rates_.duplicate_per_mille) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    delays.push_back(rng.PerMille(rates_.slow_per_mille)
                         ? rng.Range(rates_.max_delay, rates_.max_slow_delay)
                         : rng.Range(rates_.min_delay, rates_.max_delay));
  }
  return delays;
}

std::string SimNetwork::DescribeBlocks() const {
  std::string out;
  for (const auto& [link, count] : blocked_) {
    absl::StrAppend(&out, out.empty() ? "" : " ", link.first, ">", link.second);
  }
  return out.empty() ? "none" : out;
}

}  // namespace kvd::sim
