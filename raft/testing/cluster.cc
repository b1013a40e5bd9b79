#include "raft/testing/cluster.h"

#include <algorithm>
#include <string_view>

#include "raft/check.h"

namespace kvd::raft::testing {

Config TestConfig(NodeId id) {
  Config c;
  c.id = id;
  c.election_tick = 10;
  c.heartbeat_tick = 1;
  c.max_size_per_msg = UINT64_MAX;
  c.max_inflight_msgs = 256;
  c.pre_vote = false;
  c.check_quorum = false;
  c.seed = 1;
  return c;
}

Cluster::Cluster(std::vector<NodeId> voters, std::vector<NodeId> learners, ConfigTweak tweak) {
  const ConfState cs{.voters = voters, .learners = learners};
  std::vector<NodeId> all = voters;
  all.insert(all.end(), learners.begin(), learners.end());
  for (NodeId id : all) {
    Config c = TestConfig(id);
    if (tweak) tweak(c);
    Add(c, std::make_unique<MemoryStorage>(cs));
  }
}

TestNode& Cluster::Add(Config config, std::unique_ptr<MemoryStorage> storage) {
  const NodeId id = config.id;
  KVD_CHECK(!Has(id), "node ", id, " already exists");
  config.log = [this](std::string_view line) {
    if (log_sink_) log_sink_(std::string(line));
  };
  auto node = std::make_unique<TestNode>(std::move(config), std::move(storage));
  TestNode& ref = *node;
  nodes_[id] = std::move(node);
  inboxes_[id];
  return ref;
}

TestNode& Cluster::node(NodeId id) {
  auto it = nodes_.find(id);
  KVD_CHECK(it != nodes_.end(), "no node ", id);
  return *it->second;
}

std::vector<NodeId> Cluster::ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, n] : nodes_) out.push_back(id);
  return out;
}

std::optional<Ready> Cluster::ProcessReady(NodeId id) {
  TestNode& n = node(id);
  if (!n.node().HasReady()) return std::nullopt;
  Ready rd = n.HandleReady();
  for (const Message& m : rd.messages) Route(m);
  for (const Message& m : rd.messages_after_persist) Route(m);
  return rd;
}

std::vector<std::pair<Message, absl::Status>> Cluster::DeliverMessages(NodeId id) {
  std::vector<Message> msgs = std::exchange(inboxes_[id], {});
  std::vector<std::pair<Message, absl::Status>> out;
  out.reserve(msgs.size());
  for (Message& m : msgs) {
    absl::Status s = raw(id).Step(m);
    out.emplace_back(std::move(m), std::move(s));
  }
  return out;
}

int Cluster::Stabilize() {
  for (int rounds = 1;; ++rounds) {
    KVD_CHECK(rounds < 10000, "cluster does not stabilize");
    bool busy = false;
    for (NodeId id : ids()) {
      while (ProcessReady(id)) busy = true;
    }
    for (NodeId id : ids()) {
      if (!inboxes_[id].empty()) {
        DeliverMessages(id);
        busy = true;
      }
    }
    if (!busy) return rounds;
  }
}

void Cluster::Send(Message m) { Route(std::move(m)); }

void Cluster::Route(Message m) {
  if (!Has(m.to)) return;  // a node that does not exist (yet, or any more)
  if (!Reachable(m.from, m.to)) return;
  if (drop_ && drop_(m)) return;
  if (rewrite_) rewrite_(m);
  inboxes_[m.to].push_back(std::move(m));
}

void Cluster::Tick(NodeId id, int n) {
  for (int k = 0; k < n; ++k) raw(id).Tick();
}

void Cluster::Elect(NodeId id) {
  raw(id).Campaign();
  Stabilize();
}

void Cluster::Cut(NodeId a, NodeId b) {
  cut_.insert({a, b});
  cut_.insert({b, a});
}

void Cluster::Isolate(NodeId id) { isolated_.insert(id); }

void Cluster::Partition(const std::vector<std::vector<NodeId>>& groups) {
  for (size_t g = 0; g < groups.size(); ++g) {
    for (size_t h = g + 1; h < groups.size(); ++h) {
      for (NodeId a : groups[g]) {
        for (NodeId b : groups[h]) Cut(a, b);
      }
    }
  }
}

void Cluster::Heal() {
  cut_.clear();
  isolated_.clear();
}

bool Cluster::Reachable(NodeId from, NodeId to) const {
  if (from == to) return true;
  if (isolated_.count(from) > 0 || isolated_.count(to) > 0) return false;
  return cut_.count({from, to}) == 0;
}

}  // namespace kvd::raft::testing
