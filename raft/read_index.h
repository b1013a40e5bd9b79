// ReadIndexRounds: a leader's bookkeeping of linearizable reads (ReadIndex, thesis §6.4).
//
// A read is answered with the commit index at the start of a heartbeat round once a quorum of
// voters has acknowledged that round: the acknowledgements prove that no newer leader had been
// elected when the round started, so that index covers every write acknowledged before the read
// arrived. Reads share rounds: at most one round is in flight; every read that arrives while it
// is in flight waits for the next one, which starts as soon as the current one completes (one
// heartbeat broadcast per round, however many reads it carries). Rounds are numbered; the number
// travels in the heartbeats' context (decimal digits) and comes back in the responses, so only
// responses to a heartbeat sent after the round started count for it.
//
// Internal to the Raft core; one thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "raft/types.h"

namespace kvd::raft {

struct ReadRequest {
  NodeId from = kNoNode;  // the node that asked: the leader itself, or a follower
  std::string context;
};

class ReadIndexRounds {
 public:
  void Enqueue(ReadRequest r) { waiting_.push_back(std::move(r)); }
  bool HasWaiting() const { return !waiting_.empty(); }
  bool InFlight() const { return in_flight_round_ != 0; }
  size_t waiting() const { return waiting_.size(); }
  size_t in_flight() const { return in_flight_.size(); }

  // Starts a round carrying every waiting read, whose read index is commit_index. Returns the
  // round's number. Must not be InFlight().
  uint64_t StartRound(Index commit_index);
  // The number of the round in flight, 0 when none.
  uint64_t InFlightRound() const { return in_flight_round_; }
  // Records that `from` acknowledged round `round`. Ignored unless it is the round in flight.
  void RecordAck(NodeId from, uint64_t round);
  const std::map<NodeId, bool>& acks() const { return acks_; }

  struct FinishedRound {
    Index index = 0;
    std::vector<ReadRequest> requests;
  };
  // Ends the round in flight (its quorum was reached) and returns its reads.
  FinishedRound FinishRound();

  // Drops every read (the node stopped being leader; the askers retry).
  void Reset();

  // The heartbeat context that carries round, and back.
  static std::string EncodeRound(uint64_t round);
  static uint64_t DecodeRound(const std::string& context);  // 0 if none

 private:
  uint64_t next_round_ = 1;
  uint64_t in_flight_round_ = 0;
  Index in_flight_index_ = 0;
  std::vector<ReadRequest> in_flight_;
  std::map<NodeId, bool> acks_;
  std::vector<ReadRequest> waiting_;
};

}  // namespace kvd::raft
