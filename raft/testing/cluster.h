// Cluster: several TestNodes and the network between them, all in memory and driven by hand.
//
// Each node has an inbox. ProcessReady(id) handles one Ready of a node and puts its messages
// (both lists: the test's storage is synchronous, so everything is durable by the time they are
// routed) into the recipients' inboxes, unless a fault drops them; DeliverMessages(id) steps a
// node's inbox. Stabilize() repeats both over all nodes until nothing is left to do. Faults: cut
// links, isolated nodes and an arbitrary drop filter, all applied when messages are routed.
//
// Test support only; one thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "raft/config.h"
#include "raft/memory_storage.h"
#include "raft/rawnode.h"
#include "raft/testing/test_node.h"
#include "raft/types.h"

namespace kvd::raft::testing {

// The configuration the tests start from: election_tick 10, heartbeat_tick 1, pre-vote and
// check-quorum off (tests of those turn them on), a fixed seed.
Config TestConfig(NodeId id);

class Cluster {
 public:
  using ConfigTweak = std::function<void(Config&)>;

  Cluster() = default;
  // A new cluster whose members (voters and learners) all start from an empty log with the
  // bootstrap membership {voters, learners}.
  Cluster(std::vector<NodeId> voters, std::vector<NodeId> learners = {},
          ConfigTweak tweak = nullptr);

  // Adds a member with a storage the caller prepared. Its Config::log goes to the cluster's sink.
  TestNode& Add(Config config, std::unique_ptr<MemoryStorage> storage);
  bool Has(NodeId id) const { return nodes_.count(id) > 0; }
  TestNode& node(NodeId id);
  RawNode& raw(NodeId id) { return node(id).node(); }
  std::vector<NodeId> ids() const;

  // Every log line of every node goes here (default: dropped).
  void SetLogSink(std::function<void(const std::string&)> sink) { log_sink_ = std::move(sink); }

  // Handles one Ready of node id if it has one, routes its messages, and returns it.
  std::optional<Ready> ProcessReady(NodeId id);
  // Steps every message waiting in id's inbox when called, in arrival order, and returns each
  // with Step's result.
  std::vector<std::pair<Message, absl::Status>> DeliverMessages(NodeId id);
  // Repeats ProcessReady and DeliverMessages over all nodes (in id order) until no node has a
  // Ready and every inbox is empty. Returns the number of rounds it took.
  int Stabilize();

  // Puts m straight into m.to's inbox (faults apply).
  void Send(Message m);
  std::vector<Message>& inbox(NodeId id) { return inboxes_[id]; }

  // Ticks a node n times (handling nothing).
  void Tick(NodeId id, int n = 1);
  // Ticks until the node's randomized election timeout has surely passed (2 * election_tick).
  void TickElection(NodeId id) { Tick(id, 2 * node(id).config().election_tick); }
  // Campaign, then Stabilize.
  void Elect(NodeId id);
  // The current leader as seen by the given node (kNoNode if none).
  NodeId LeaderOf(NodeId id) { return raw(id).GetStatus().soft_state.leader; }

  // Faults.
  void Cut(NodeId a, NodeId b);
  void Isolate(NodeId id);
  // Splits the members into groups that cannot reach each other.
  void Partition(const std::vector<std::vector<NodeId>>& groups);
  // Removes all cuts and isolation (not the drop filter).
  void Heal();
  // Drops every routed message for which drop(m) is true (nullptr: none).
  void SetDropFilter(std::function<bool(const Message&)> drop) { drop_ = std::move(drop); }
  // Alters every routed message that is not dropped (nullptr: none), e.g. to lose some entries.
  void SetRewrite(std::function<void(Message&)> rewrite) { rewrite_ = std::move(rewrite); }
  bool Reachable(NodeId from, NodeId to) const;

 private:
  void Route(Message m);

  std::map<NodeId, std::unique_ptr<TestNode>> nodes_;
  std::map<NodeId, std::vector<Message>> inboxes_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::set<NodeId> isolated_;
  std::function<bool(const Message&)> drop_;
  std::function<void(Message&)> rewrite_;
  std::function<void(const std::string&)> log_sink_;
};

}  // namespace kvd::raft::testing
