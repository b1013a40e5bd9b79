// Configuration of one Raft node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "raft/log_storage.h"
#include "raft/types.h"

namespace kvd::raft {

// Receives the core's notable events (elections, leader changes, conf changes) as one line of
// text each. The core never blocks on it. Default: discarded.
using LogSink = std::function<void(std::string_view line)>;

struct Config {
  // This node's ID; never kNoNode.
  NodeId id = kNoNode;

  // A follower or candidate that hears nothing from a leader for a randomized number of ticks in
  // [election_tick, 2 * election_tick) starts an election. Must exceed heartbeat_tick.
  int election_tick = 10;
  // A leader sends heartbeats every heartbeat_tick ticks.
  int heartbeat_tick = 1;

  // The persisted log. Not owned; must outlive the node.
  const LogStorage* storage = nullptr;

  // The last index the application applied before a restart. Committed entries at or below it
  // are not handed out again. It may be above the hard state's commit index (a Ready that only
  // moves the commit index need not be synced, while the state machine may make its applied index
  // durable): the node then starts with that commit index, since only committed entries are ever
  // handed out. It must not be beyond the log's last index (RawNode::Create refuses it: the log
  // lost entries the state machine has). Below the storage's snapshot it counts as the snapshot's
  // index.
  Index applied = 0;

  // Upper bound on the data bytes of the entries in one append message (at least one entry is
  // always sent).
  uint64_t max_size_per_msg = 1 << 20;
  // Upper bound on the data bytes of Ready::committed_entries (at least one entry).
  uint64_t max_committed_size_per_ready = 16 << 20;
  // Maximum append messages in flight to one follower in the replicate state.
  size_t max_inflight_msgs = 256;
  // A leader refuses proposals once its uncommitted tail exceeds this many data bytes (0: no
  // limit).
  uint64_t max_uncommitted_entries_size = 0;

  // A candidate first asks whether it could win (pre-vote) before it raises its term, so a
  // partitioned node rejoining cannot disrupt a healthy leader.
  bool pre_vote = true;
  // A leader that has not heard from a quorum within an election timeout steps down, and a
  // follower that heard from a leader within an election timeout ignores votes.
  bool check_quorum = true;
  // When true a follower refuses proposals (ErrProposalDropped naming the leader) instead of
  // forwarding them to the leader.
  bool disable_proposal_forwarding = false;

  // Seed of the node's only source of randomness (election timeouts). Equal seeds and equal
  // inputs give equal outputs. The node mixes its id into the seed, so members given one seed
  // still draw different timeouts.
  uint64_t seed = 0;

  LogSink log;
};

}  // namespace kvd::raft
