// TestNode: one member as the Raft core's tests drive it: a RawNode, the MemoryStorage that plays
// its disk, and a trivial state machine (the data of the applied entries, in order).
//
// HandleReady() follows THE READY CONTRACT (raft/rawnode.h) to the letter: persist the snapshot,
// entries and hard state; apply the committed entries (calling ApplyConfChange for conf changes);
// then Advance(). Routing the Ready's messages is the caller's business (Cluster does it).
// Restart() simulates a crash and restart: the RawNode and everything it had not handed out for
// persisting are lost; storage and state machine (both "durable") survive.
//
// Test support only; one thread.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "raft/config.h"
#include "raft/memory_storage.h"
#include "raft/rawnode.h"
#include "raft/types.h"

namespace kvd::raft::testing {

class TestNode {
 public:
  // A member with the given storage (prepared by the caller: bootstrap membership, snapshot,
  // hard state) and config (its storage field is set here). Crashes on an invalid config.
  TestNode(Config config, std::unique_ptr<MemoryStorage> storage);

  NodeId id() const { return config_.id; }
  RawNode& node() { return *node_; }
  const RawNode& node() const { return *node_; }
  MemoryStorage& storage() { return *storage_; }
  const Config& config() const { return config_; }

  // Handles one Ready (HasReady() must be true) and returns it.
  Ready HandleReady();

  // Drops the RawNode and builds a new one from the storage, with Config::applied at the state
  // machine's applied index; conf changes between the storage's snapshot and that index are
  // re-applied, as an owner restarting must.
  void Restart();

  // The state machine: the data of every non-empty normal entry applied, with its index.
  const std::vector<std::pair<Index, std::string>>& applied() const { return applied_; }
  Index applied_index() const { return applied_index_; }
  const ConfState& conf_state() const { return conf_state_; }
  // Read states from every Ready handled so far, in order.
  const std::vector<ReadState>& read_states() const { return read_states_; }

  // The state machine image at index i (i <= applied_index()), for MemoryStorage::CreateSnapshot.
  std::string SnapshotData(Index i) const;
  // Snapshots the state machine at i with the membership in force and compacts the log up to i.
  absl::Status CompactTo(Index i);

 private:
  void InstallSnapshot(const Snapshot& s);
  void SetConfState(Index at, ConfState cs);
  ConfState ConfStateAt(Index i) const;

  Config config_;
  std::unique_ptr<MemoryStorage> storage_;
  std::unique_ptr<RawNode> node_;
  std::vector<std::pair<Index, std::string>> applied_;
  Index applied_index_ = 0;
  ConfState conf_state_;
  // The membership from each index on (for snapshots below the applied index).
  std::vector<std::pair<Index, ConfState>> conf_history_;
  std::vector<ReadState> read_states_;
};

}  // namespace kvd::raft::testing
