#include "raft/read_index.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "raft/check.h"

namespace kvd::raft {

uint64_t ReadIndexRounds::StartRound(Index commit_index) {
  KVD_CHECK(!InFlight(), "starting read round while round ", in_flight_round_, " is in flight");
  in_flight_round_ = next_round_++;
  in_flight_index_ = commit_index;
  in_flight_ = std::move(waiting_);
  waiting_.clear();
  acks_.clear();
  return in_flight_round_;
}

void ReadIndexRounds::RecordAck(NodeId from, uint64_t round) {
  if (round == 0 || round != in_flight_round_) return;
  acks_[from] = true;
}

ReadIndexRounds::FinishedRound ReadIndexRounds::FinishRound() {
  KVD_CHECK(InFlight(), "finishing a read round when none is in flight");
  FinishedRound out{.index = in_flight_index_, .requests = std::move(in_flight_)};
  in_flight_.clear();
  in_flight_round_ = 0;
  in_flight_index_ = 0;
  acks_.clear();
  return out;
}

void ReadIndexRounds::Reset() {
  in_flight_round_ = 0;
  in_flight_index_ = 0;
  in_flight_.clear();
  acks_.clear();
  waiting_.clear();
}

std::string ReadIndexRounds::EncodeRound(uint64_t round) { return absl::StrCat(round); }

uint64_t ReadIndexRounds::DecodeRound(const std::string& context) {
  uint64_t round = 0;
  if (context.empty() || !absl::SimpleAtoi(context, &round)) return 0;
  return round;
}

}  // namespace kvd::raft
