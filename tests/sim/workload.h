// The simulated cluster's clients and the server side that answers them.
//
// ClientPool: sequential clients, each with at most one operation outstanding: get (a
// linearizable read through ReadIndex), put, cas or delete, on a few keys, every written value
// unique. A client retries an unanswered operation on another node (same sequence number, so the
// state machine's sessions keep it single-effect) and gives up after a deadline; the operation
// is then indeterminate. The pool records the history the linearizability checker judges: an
// operation's interval runs from its first send to the reply that completed it.
//
// KvFrontend: one per node, the part of a server that turns requests into Propose / ReadIndex
// calls and answers once the command is applied here, or once a read's ReadState has come back
// and the node has applied up to its index. Volatile: a crash forgets every waiter.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "raft/rawnode.h"
#include "tests/linearizability/history.h"
#include "tests/sim/kv_state_machine.h"
#include "tests/sim/sim_network.h"
#include "tests/sim/sim_random.h"

namespace kvd::sim {

struct ClientRequest {
  uint64_t client = 0;
  uint64_t seq = 0;
  uint32_t attempt = 0;
  bool is_read = false;
  std::string key;    // reads
  KvCommand command;  // writes
};

struct ClientReply {
  uint64_t client = 0;
  uint64_t seq = 0;
  uint32_t attempt = 0;
  raft::NodeId from = raft::kNoNode;
  bool rejected = false;   // the node could not take the request (no leader, dropped); retry
  bool succeeded = false;  // writes: put true, cas swapped, delete found the key
  std::optional<std::string> value;  // reads
};

std::string DescribeRequest(const ClientRequest& r);
std::string DescribeReply(const ClientReply& r);

class KvFrontend {
 public:
  // Hands the request to the node. Returns a rejection to send back at once, or nullopt when the
  // answer comes later. *proposed is set when a write entered the Raft pipeline (it may take
  // effect even if no answer ever comes).
  std::optional<ClientReply> Receive(raft::NodeId self, const ClientRequest& req,
                                     raft::RawNode& raw, bool* proposed, std::string* read_context);
  // A command was applied here with this answer: the reply for a client waiting here, if any.
  std::optional<ClientReply> OnApplied(raft::NodeId self, const KvCommand& c, const KvAnswer& a);
  // A ReadState came back in a Ready.
  void OnReadState(const raft::ReadState& rs);
  // Answers the reads whose index the node has applied.
  std::vector<ClientReply> ServeReads(raft::NodeId self, raft::Index applied,
                                      const KvStateMachine& sm);
  // A crash: every waiter is forgotten (the clients time out).
  void Clear();

 private:
  std::map<std::pair<uint64_t, uint64_t>, ClientRequest> writes_;  // (client, seq)
  std::map<std::string, ClientRequest> reads_;                     // ReadIndex context
  std::vector<std::pair<raft::Index, ClientRequest>> servable_reads_;
};

struct WorkloadStats {
  uint64_t started = 0;
  uint64_t completed = 0;
  uint64_t indeterminate = 0;  // gave up after it may have taken effect
  uint64_t vanished = 0;       // gave up; provably never took effect (omitted from the history)
  uint64_t retries = 0;
};

class ClientPool {
 public:
  ClientPool(int clients, int keys, SimTime op_deadline);

  int clients() const { return static_cast<int>(clients_.size()); }
  bool Busy(uint64_t client) const { return clients_[client].op.has_value(); }
  bool AnyBusy() const;

  // Starts a new operation for an idle client.
  ClientRequest Start(uint64_t client, SimTime now, SimRandom& rng);
  // Whether the client's next operation may be a read-back of its last write (to be started
  // without a pause).
  bool WantsReadBack(uint64_t client) const { return clients_[client].read_back.has_value(); }
  // The next attempt of the client's outstanding operation, or nullopt when it gives up (past
  // its deadline). Counts a retry.
  std::optional<ClientRequest> Retry(uint64_t client, SimTime now);
  // Whether attempt is still the outstanding one (timers and rejections of older attempts are
  // stale).
  bool Current(uint64_t client, uint64_t seq, uint32_t attempt) const;
  // A write of the client's operation seq was proposed somewhere — possibly after the client
  // gave up on it, by a request still on its way: it may take effect.
  void MarkProposed(uint64_t client, uint64_t seq);
  // A reply completed the operation; returns false (and ignores it) when it is stale.
  bool Complete(const ClientReply& reply, SimTime now);
  // Ends every outstanding operation as if its client gave up (the end of a run).
  void AbandonAll();

  // The history: completed operations, and the writes given up on that some node proposed
  // (indeterminate). Writes no node ever proposed, and unanswered reads, changed nothing and are
  // left out.
  std::vector<linearizability::Operation> History() const;
  // Figures; indeterminate and vanished are counted by History().
  WorkloadStats stats() const;

 private:
  struct Outstanding {
    linearizability::Operation op;  // call set; ret and results on completion
    ClientRequest request;
    bool maybe_effective = false;
  };
  struct Client {
    uint64_t next_seq = 1;
    std::optional<Outstanding> op;
    // The key of its last acknowledged write: clients often read back what they wrote, the
    // pattern that exposes stale reads.
    std::optional<std::string> read_back;
  };
  void GiveUp(uint64_t client);

  std::vector<Client> clients_;
  std::vector<std::string> keys_;
  SimTime op_deadline_;
  // The latest value each key is known to hold, to make cas expectations plausible.
  std::map<std::string, std::optional<std::string>> known_;
  std::vector<linearizability::Operation> history_;
  std::map<std::pair<uint64_t, uint64_t>, Outstanding> abandoned_;  // (client, seq)
  WorkloadStats stats_;
};

}  // namespace kvd::sim
