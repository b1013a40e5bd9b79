// The candidate's and pre-candidate's half of the Raft state machine: counting (pre-)votes, and
// giving way to a leader of the same term.
#include "absl/strings/str_cat.h"
#include "raft/errors.h"
#include "raft/raft.h"

namespace kvd::raft {

absl::Status Raft::StepCandidate(Message& m) {
  const bool pre = role_ == Role::kPreCandidate;
  const MessageType my_response = pre ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  switch (m.type) {
    case MessageType::kProp:
      return ErrProposalDropped(
          absl::StrCat("no leader at term ", term_, ": an election is in progress"));
    case MessageType::kApp:
      // §5.2: a leader of this term exists (the step's term rules already handled later terms).
      BecomeFollower(m.term, m.from);
      HandleAppendEntries(m);
      return absl::OkStatus();
    case MessageType::kHeartbeat:
      BecomeFollower(m.term, m.from);
      HandleHeartbeat(m);
      return absl::OkStatus();
    case MessageType::kSnap:
      BecomeFollower(m.term, m.from);
      HandleSnapshot(m);
      return absl::OkStatus();
    case MessageType::kReadIndex:
      Log("dropped read index request: no leader");
      return absl::OkStatus();
    default:
      break;
  }
  if (m.type != my_response) return absl::OkStatus();
  // A granted pre-vote is for term_ + 1; one for another term answers an earlier round.
  if (pre && !m.reject && m.term != term_ + 1) return absl::OkStatus();
  trk_.RecordVote(m.from, !m.reject);
  const auto [granted, rejected] = trk_.VoteCounts();
  Log(absl::StrCat("has received ", granted, " ", MessageTypeName(m.type), " votes and ", rejected,
                   " vote rejections"));
  switch (trk_.TallyVotes()) {
    case VoteResult::kWon:
      if (pre) {
        Campaign(CampaignType::kElection);
      } else {
        BecomeLeader();
        BroadcastAppend();
      }
      break;
    case VoteResult::kLost:
      // A pre-candidate that lost returns to its term as it was: nothing changed.
      BecomeFollower(term_, kNoNode);
      break;
    case VoteResult::kPending:
      break;
  }
  return absl::OkStatus();
}

}  // namespace kvd::raft
