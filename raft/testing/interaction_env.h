// InteractionEnv: the commands of the scripted interaction tests (raft/testdata/*.txt), run
// against a Cluster. Each command returns what it did as text: the Readys handled, the messages
// delivered, and the nodes' log lines (prefixed "INFO") in the order they happened.
//
// Commands (ids are node ids; "ids..." means one or more, none meaning all nodes):
//   add-nodes <n> [voters=(..)] [learners=(..)] [index=<i>] [pre-vote=true] [check-quorum=true]
//             [disable-forwarding=true] [max-inflight=<n>] [max-size-per-msg=<bytes>]
//       n new members with the next free ids. With index=i their storage starts with a snapshot
//       at i (term 1) carrying the membership; with voters/learners only, an empty log with that
//       bootstrap membership; with neither, an empty log and no membership (a node to be added).
//   campaign <id>                    RawNode::Campaign
//   tick <id> <n>                    n ticks
//   tick-election <id>               2 * election_tick ticks (surely past the timeout)
//   tick-heartbeat <id>              heartbeat_tick ticks
//   propose <id> <data>              RawNode::Propose
//   propose-conf-change <id> add-voter|add-learner|remove <node>
//   read-index <id> <context>        RawNode::ReadIndex
//   transfer-leadership from=<id> to=<id>
//   report-unreachable <id> <peer>
//   process-ready ids...             handle one Ready of each node (persist, apply, Advance)
//   deliver-msgs ids...              step each node's waiting messages
//   drop-msgs ids...                 drop each node's waiting messages
//   stabilize [ids...]               both of the above until nothing is left to do
//   partition <ids> / <ids> [/ ...]  messages between groups are dropped
//   isolate <id>                     messages to and from id are dropped
//   heal                             undo partition and isolate
//   compact <id> <index>             snapshot the state machine at index and compact the log
//   restart <id>                     crash and restart from the node's storage
//   status <id>                      the node's Status
//   raft-log <id>                    the node's durable log
//   raft-state                       role, term and leader of every node
//   applied <id>                     the node's state machine
//   log-level none|info              hide or show log lines
//
// Test support only; pure.
#pragma once

#include <string>
#include <vector>

#include "raft/testing/cluster.h"
#include "raft/testing/datadriven.h"

namespace kvd::raft::testing {

class InteractionEnv {
 public:
  InteractionEnv();
  // Runs one command and returns its output.
  std::string Handle(const TestCase& tc);

 private:
  void AddNodes(const TestCase& tc);
  void Stabilize(const std::vector<NodeId>& ids);
  bool ProcessReady(NodeId id);
  bool DeliverMsgs(NodeId id);
  void DropMsgs(NodeId id);
  void ProposeConfChange(const TestCase& tc);
  void Status(NodeId id);
  void RaftLog(NodeId id);
  void RaftState();
  void Applied(NodeId id);
  void Partition(const TestCase& tc);

  void Print(const std::string& line) { out_ += line + "\n"; }
  std::vector<NodeId> Ids(const TestCase& tc, size_t from) const;
  NodeId IdArg(const TestCase& tc, size_t pos) const;

  Cluster cluster_;
  std::string out_;
  bool show_log_ = true;
  std::string log_indent_;
};

}  // namespace kvd::raft::testing
