// The follower's half of the Raft state machine: the election timer, appends and conflict hints,
// heartbeats, snapshots, and forwarding of client requests to the leader.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "raft/check.h"
#include "raft/confchange.h"
#include "raft/errors.h"
#include "raft/raft.h"

namespace kvd::raft {

void Raft::TickElection() {
  ++election_elapsed_;
  if (Promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    Step(Message{.type = MessageType::kHup, .from = id_}).IgnoreError();
  }
}

absl::Status Raft::StepFollower(Message& m) {
  switch (m.type) {
    case MessageType::kProp:
      if (trk_.IsLearner(id_)) return ErrProposalDropped("this node is a learner");
      if (lead_ == kNoNode) {
        return ErrProposalDropped(absl::StrCat("no leader at term ", term_));
      }
      if (disable_proposal_forwarding_) {
        return ErrProposalDropped(
            absl::StrCat("proposal forwarding is disabled; the leader is ", absl::Hex(lead_)));
      }
      m.to = lead_;
      Send(std::move(m));
      return absl::OkStatus();
    case MessageType::kApp:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleAppendEntries(m);
      return absl::OkStatus();
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleHeartbeat(m);
      return absl::OkStatus();
    case MessageType::kSnap:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleSnapshot(m);
      return absl::OkStatus();
    case MessageType::kTransferLeader:
      if (lead_ == kNoNode) {
        Log(absl::StrCat("dropped leader transfer to ", absl::Hex(m.from), ": no leader at term ",
                         term_));
        return absl::OkStatus();
      }
      m.to = lead_;
      Send(std::move(m));
      return absl::OkStatus();
    case MessageType::kTimeoutNow:
      // The leader asks this node to campaign now (leader transfer): no pre-vote, and the others
      // will not refuse it on account of their lease.
      Log(absl::StrCat("received MsgTimeoutNow from ", absl::Hex(m.from),
                       " and starts an election to get leadership"));
      Hup(CampaignType::kTransfer);
      return absl::OkStatus();
    case MessageType::kReadIndex:
      if (m.from != id_) return absl::OkStatus();  // only the leader answers others' reads
      if (lead_ == kNoNode) {
        Log("dropped read index request: no leader");
        return absl::OkStatus();
      }
      m.to = lead_;
      Send(std::move(m));
      return absl::OkStatus();
    case MessageType::kReadIndexResp:
      read_states_.push_back(ReadState{.index = m.index, .context = std::move(m.context)});
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

void Raft::HandleAppendEntries(Message& m) {
  if (m.index < log_.committed()) {
    // Everything up to the commit index already matches (committed entries never change);
    // telling the leader so moves it past the stale part.
    Send(Message{.type = MessageType::kAppResp, .to = m.from, .index = log_.committed()});
    return;
  }
  const Index prev_index = m.index;
  const Term prev_term = m.log_term;
  // §5.3: accept only if the log holds the entry before the new ones with the same term (log
  // matching); then it matches the leader's log up to there.
  if (std::optional<Index> last =
          log_.MaybeAppend(prev_index, prev_term, m.commit, std::move(m.entries))) {
    Send(Message{.type = MessageType::kAppResp, .to = m.from, .index = *last});
    return;
  }
  // Rejection with a hint: the last index at or below prev_index whose term is <= prev_term.
  // Every entry after it has a term > prev_term, while the leader's entries there have terms
  // <= prev_term, so none of them can match.
  const Index hint_from = std::min(prev_index, log_.LastIndex());
  const auto [hint_index, hint_term] = log_.FindConflictByTerm(hint_from, prev_term);
  Log(absl::StrCat("[logterm: ", log_.TermOrZero(prev_index), ", index: ", prev_index,
                   "] rejected MsgApp [logterm: ", prev_term, ", index: ", prev_index, "] from ",
                   absl::Hex(m.from)));
  Send(Message{.type = MessageType::kAppResp,
               .to = m.from,
               .log_term = hint_term,
               .index = prev_index,
               .reject = true,
               .reject_hint = hint_index});
}

void Raft::HandleHeartbeat(const Message& m) {
  // The leader sends min(our match, its commit): we hold those entries.
  log_.CommitTo(m.commit);
  Send(Message{.type = MessageType::kHeartbeatResp, .to = m.from, .context = m.context});
}

void Raft::HandleSnapshot(Message& m) {
  const Index index = m.snapshot.metadata.index;
  const Term term = m.snapshot.metadata.term;
  if (Restore(std::move(m.snapshot))) {
    Log(absl::StrCat("restored snapshot [index: ", index, ", term: ", term, "]"));
    Send(Message{.type = MessageType::kAppResp, .to = m.from, .index = log_.LastIndex()});
  } else {
    Log(absl::StrCat("ignored snapshot [index: ", index, ", term: ", term, "]"));
    Send(Message{.type = MessageType::kAppResp, .to = m.from, .index = log_.committed()});
  }
}

bool Raft::Restore(Snapshot s) {
  if (s.metadata.index <= log_.committed()) return false;
  KVD_CHECK(role_ == Role::kFollower, "restoring a snapshot as ", RoleName(role_));
  if (log_.MatchTerm(s.metadata.index, s.metadata.term)) {
    // The log already holds the snapshot's last entry, hence everything before it (log
    // matching): only the commit index moves, the entries after it are kept.
    Log(absl::StrCat("fast-forwarded commit to snapshot [index: ", s.metadata.index,
                     ", term: ", s.metadata.term, "]"));
    log_.CommitTo(s.metadata.index);
    return false;
  }
  if (!s.metadata.conf_state.voters.empty() || !s.metadata.conf_state.learners.empty()) {
    const auto& cs = s.metadata.conf_state;
    const bool listed = std::find(cs.voters.begin(), cs.voters.end(), id_) != cs.voters.end() ||
                        std::find(cs.learners.begin(), cs.learners.end(), id_) != cs.learners.end();
    // A node joining the cluster may receive a snapshot older than its own addition; it learns
    // of that addition from the log after the snapshot.
    if (!listed)
      Log(absl::StrCat("installing a snapshot whose membership does not list ", absl::Hex(id_)));
  }
  const Index index = s.metadata.index;
  const ConfState cs = s.metadata.conf_state;
  log_.Restore(std::move(s));
  trk_.SetConfState(cs, log_.LastIndex() + 1);
  // Conf changes handed out before the snapshot and applied after it are skipped: their indexes
  // are below conf_index_ (see ApplyConfChange).
  conf_index_ = index;
  Log(absl::StrCat("switched to ", DescribeConfState(trk_.conf_state()), " from snapshot at ",
                   index));
  return true;
}

}  // namespace kvd::raft
