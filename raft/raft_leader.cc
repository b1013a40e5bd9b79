// The leader's half of the Raft state machine: heartbeats and check-quorum, proposals,
// replication with flow control, commitment, snapshots to lagging followers, ReadIndex rounds
// and leader transfer.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "raft/check.h"
#include "raft/confchange.h"
#include "raft/entry_size.h"
#include "raft/errors.h"
#include "raft/raft.h"

namespace kvd::raft {

void Raft::TickHeartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  // A snapshot neither acknowledged nor reported (ReportSnapshot) for this long was probably
  // lost: probe again, which sends a new one.
  for (auto& [id, pr] : trk_.progress()) {
    if (pr.state != ProgressState::kSnapshot) continue;
    if (++pr.snapshot_ticks < kSnapshotRetryElectionTimeouts * election_timeout_) continue;
    Log(absl::StrCat("snapshot to ", absl::Hex(id), " unacknowledged after ", pr.snapshot_ticks,
                     " ticks; assuming it was lost"));
    pr.pending_snapshot = 0;
    pr.BecomeProbe();
  }
  if (election_elapsed_ >= election_timeout_) {
    election_elapsed_ = 0;
    if (check_quorum_) {
      Step(Message{.type = MessageType::kCheckQuorum, .from = id_}).IgnoreError();
    }
  }
  if (role_ != Role::kLeader) return;
  // A transfer that has not finished within an election timeout of its start is abandoned, so
  // the leader accepts proposals again. Its clock is its own: starting a transfer neither
  // postpones the next quorum check nor inherits the ticks already counted toward it.
  if (lead_transferee_ != kNoNode && ++transfer_elapsed_ >= election_timeout_) {
    Log(absl::StrCat("abandoned leader transfer to ", absl::Hex(lead_transferee_),
                     ": not done within an election timeout"));
    AbortLeaderTransfer();
  }
  if (heartbeat_elapsed_ >= heartbeat_timeout_) {
    heartbeat_elapsed_ = 0;
    Step(Message{.type = MessageType::kBeat, .from = id_}).IgnoreError();
  }
}

absl::Status Raft::StepLeader(Message& m) {
  switch (m.type) {
    case MessageType::kBeat:
      BroadcastHeartbeat();
      return absl::OkStatus();
    case MessageType::kCheckQuorum:
      // Thesis §6.2: a leader that has not heard from a quorum within an election timeout may
      // have been deposed without knowing it; stepping down stops it from serving clients.
      if (!trk_.QuorumActive()) {
        Log("stepped down to follower: no quorum heard from within an election timeout");
        BecomeFollower(term_, kNoNode);
      }
      for (auto& [id, pr] : trk_.progress()) {
        if (id != id_) pr.recent_active = false;
      }
      return absl::OkStatus();
    case MessageType::kProp:
      return AppendProposal(m);
    case MessageType::kReadIndex:
      HandleReadIndexRequest(m.from == kNoNode ? id_ : m.from, std::move(m.context));
      return absl::OkStatus();
    default:
      break;
  }

  Progress* pr = trk_.Get(m.from);
  switch (m.type) {
    case MessageType::kAppResp:
    case MessageType::kHeartbeatResp:
    case MessageType::kSnapStatus:
    case MessageType::kUnreachable:
      if (pr == nullptr) {
        return ErrStepRejected(absl::StrCat(MessageTypeName(m.type), " from ", absl::Hex(m.from),
                                            ", which is not a member"));
      }
      break;
    case MessageType::kTransferLeader:
      if (pr == nullptr) {
        Log(absl::StrCat("ignored leader transfer to ", absl::Hex(m.from), ": not a member"));
        return absl::OkStatus();
      }
      break;
    default:
      // Stale vote responses, another node's appends at this term (impossible: one leader per
      // term), timeouts meant for followers: nothing to do.
      return absl::OkStatus();
  }

  switch (m.type) {
    case MessageType::kAppResp:
      HandleAppendResponse(m, *pr);
      break;
    case MessageType::kHeartbeatResp:
      HandleHeartbeatResponse(m, *pr);
      break;
    case MessageType::kSnapStatus:
      if (pr->state != ProgressState::kSnapshot) break;
      if (m.reject) {
        Log(absl::StrCat("snapshot to ", absl::Hex(m.from), " failed; will probe again"));
        pr->pending_snapshot = 0;
      } else {
        Log(absl::StrCat("snapshot to ", absl::Hex(m.from), " succeeded; resumed replication"));
      }
      pr->BecomeProbe();
      // Wait for the follower's append response (after a success) or a heartbeat response
      // (after a failure) before the next append.
      pr->probe_sent = true;
      break;
    case MessageType::kUnreachable:
      // The pipeline to it probably lost messages: stop streaming and probe.
      if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
      break;
    case MessageType::kTransferLeader:
      HandleTransferLeader(m, *pr);
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Proposals

absl::Status Raft::AppendProposal(Message& m) {
  if (m.entries.empty()) return ErrStepRejected("proposal without entries");
  if (!trk_.IsVoter(id_)) {
    return ErrProposalDropped("this leader was removed from the configuration");
  }
  if (lead_transferee_ != kNoNode) {
    return ErrProposalDropped(
        absl::StrCat("leader transfer to ", absl::Hex(lead_transferee_), " is in progress"));
  }
  Index conf_at = 0;
  for (size_t k = 0; k < m.entries.size(); ++k) {
    const Entry& e = m.entries[k];
    if (e.type != EntryType::kConfChange) continue;
    absl::StatusOr<ConfChange> cc = DecodeConfChange(e.data);
    if (!cc.ok()) return cc.status();
    // Single-server changes are safe one at a time: the next one may only start once the
    // previous one is applied (it takes effect on apply), so any two memberships in use at once
    // differ by one server and their majorities overlap.
    if (conf_at != 0 || pending_conf_index_ > log_.applied() || !conf_changes_handed_out_.empty()) {
      return ErrProposalDropped(
          absl::StrCat("conf change ", DescribeConfChange(*cc),
                       ": another change is not yet applied (pending up to index ",
                       pending_conf_index_, ", applied ", log_.applied(), ")"));
    }
    // The membership the change is judged against must be the one every member will have
    // reached when they apply it: only once an entry of this term is committed is everything
    // an earlier leader left in the log committed, and thus known.
    if (!CommittedEntryInCurrentTerm()) {
      return ErrProposalDropped(absl::StrCat("conf change ", DescribeConfChange(*cc),
                                             ": the leader has not yet committed an entry of "
                                             "its term ",
                                             term_));
    }
    absl::StatusOr<ConfState> next = ApplyChangeToConfState(trk_.conf_state(), *cc);
    if (!next.ok()) return next.status();
    conf_at = log_.LastIndex() + 1 + k;
  }
  if (!AppendEntries(std::move(m.entries))) {
    return ErrProposalDropped(
        absl::StrCat("the uncommitted log exceeds ", max_uncommitted_size_, " bytes"));
  }
  if (conf_at != 0) pending_conf_index_ = conf_at;
  // The appends go out when the owner next takes a Ready (FlushAppends), so that all proposals
  // made in between travel in one message per follower instead of one message each.
  appends_pending_ = true;
  return absl::OkStatus();
}

bool Raft::AppendEntries(std::vector<Entry> ents) {
  const Index last = log_.LastIndex();
  for (size_t k = 0; k < ents.size(); ++k) {
    ents[k].term = term_;
    ents[k].index = last + 1 + k;
  }
  const uint64_t bytes = EntriesDataBytes(ents);
  // Always admit a proposal when nothing is uncommitted, so that one large entry still passes.
  if (max_uncommitted_size_ > 0 && uncommitted_size_ > 0 &&
      uncommitted_size_ + bytes > max_uncommitted_size_) {
    Log(absl::StrCat("dropped proposal: uncommitted log would exceed ", max_uncommitted_size_,
                     " bytes"));
    return false;
  }
  uncommitted_size_ += bytes;
  log_.Append(std::move(ents));
  // The leader's own Progress is not advanced here: its new entries are not durable until the
  // owner persists this Ready and calls Advance() (OnPersisted).
  return true;
}

// ---------------------------------------------------------------------------------------------
// Replication

bool Raft::MaybeSendAppend(NodeId to, bool send_if_empty) {
  Progress* pr = trk_.Get(to);
  if (pr == nullptr || pr->IsPaused()) return false;
  const Index prev_index = pr->next - 1;
  absl::StatusOr<Term> prev_term = log_.TermAt(prev_index);
  absl::StatusOr<std::vector<Entry>> ents = log_.EntriesFrom(pr->next, max_size_per_msg_);
  if (!prev_term.ok() || !ents.ok()) {
    // The entries the follower needs are compacted away: it needs a snapshot. (Nothing else can
    // fail here: next never passes the leader's last index + 1.)
    KVD_CHECK(prev_term.ok() || IsCompacted(prev_term.status()), "term of ", prev_index, " for ",
              absl::Hex(to), ": ", prev_term.status().ToString());
    return MaybeSendSnapshot(to, *pr);
  }
  if (ents->empty() && !send_if_empty) return false;
  const size_t count = ents->size();
  const Index last = count > 0 ? ents->back().index : prev_index;
  Send(Message{.type = MessageType::kApp,
               .to = to,
               .log_term = *prev_term,
               .index = prev_index,
               .entries = std::move(*ents),
               .commit = log_.committed()});
  pr->SentEntries(last, count);
  return true;
}

bool Raft::MaybeSendSnapshot(NodeId to, Progress& pr) {
  if (!pr.recent_active) {
    Log(absl::StrCat("not sending a snapshot to ", absl::Hex(to), ": not recently active"));
    return false;
  }
  absl::StatusOr<Snapshot> snap = log_.GetSnapshot();
  if (!snap.ok()) {
    if (IsSnapshotTemporarilyUnavailable(snap.status())) {
      Log(absl::StrCat("snapshot for ", absl::Hex(to), " is temporarily unavailable; will retry"));
      return false;
    }
    KVD_CHECK(false, "cannot get a snapshot for ", absl::Hex(to), ": ", snap.status().ToString());
  }
  KVD_CHECK(!snap->IsEmpty(), "follower ", absl::Hex(to), " needs entries before ",
            log_.FirstIndex(), " but the storage has no snapshot");
  const Index index = snap->metadata.index;
  Log(absl::StrCat("sent snapshot [index: ", index, ", term: ", snap->metadata.term, "] to ",
                   absl::Hex(to), " [", pr.Describe(), "]"));
  pr.BecomeSnapshot(index);
  Send(Message{.type = MessageType::kSnap, .to = to, .snapshot = std::move(*snap)});
  return true;
}

void Raft::SendHeartbeat(NodeId to, const std::string& context) {
  const Progress* pr = trk_.Get(to);
  // The follower may not have the entries up to the leader's commit index; it may commit only
  // what it is known to match.
  Message m;  // (field by field: GCC 12 -O3 misreports a designated initializer here)
  m.type = MessageType::kHeartbeat;
  m.to = to;
  m.commit = std::min(pr == nullptr ? 0 : pr->match, log_.committed());
  m.context = context;
  Send(std::move(m));
}

void Raft::SendTimeoutNow(NodeId to) { Send(Message{.type = MessageType::kTimeoutNow, .to = to}); }

void Raft::BroadcastAppend() {
  for (const auto& [id, pr] : trk_.progress()) {
    if (id != id_) SendAppend(id);
  }
}

void Raft::FlushAppends() {
  if (!appends_pending_ && !commit_pending_) return;
  const bool carry_commit = commit_pending_;
  appends_pending_ = false;
  commit_pending_ = false;
  if (role_ != Role::kLeader) return;
  for (const auto& [id, pr] : trk_.progress()) {
    if (id == id_) continue;
    // An append even without entries if the commit index moved; then as many more as flow
    // control allows (the byte limit may split the new entries).
    if (!MaybeSendAppend(id, carry_commit)) continue;
    while (MaybeSendAppend(id, false)) {
    }
  }
}

void Raft::BroadcastHeartbeat() {
  // Periodic heartbeats also carry the read round in flight: if its own broadcast was lost,
  // these collect the acknowledgements (they were sent after the round started, so they count).
  const uint64_t round = reads_.InFlightRound();
  const std::string context = round == 0 ? std::string() : ReadIndexRounds::EncodeRound(round);
  for (const auto& [id, pr] : trk_.progress()) {
    if (id != id_) SendHeartbeat(id, context);
  }
}

bool Raft::MaybeCommit() {
  // The largest index durable on a majority of voters (the leader's own log counts only as far
  // as it is persisted), committed only if it is of the current term (RaftLog::MaybeCommit).
  if (!log_.MaybeCommit(trk_.Committed(), term_)) return false;
  OnCommitAdvanced();
  return true;
}

void Raft::OnCommitAdvanced() { MaybeStartReadRound(); }

bool Raft::CommittedEntryInCurrentTerm() const {
  return log_.TermOrZero(log_.committed()) == term_;
}

void Raft::HandleAppendResponse(const Message& m, Progress& pr) {
  pr.recent_active = true;
  if (m.reject) {
    // The follower's log does not match at m.index. Its hint (reject_hint, log_term) is the
    // last index it has at or below m.index with a term <= the term the leader sent; the leader
    // backs up to the last index of its own log at or below the hint whose term is <= the
    // follower's term there. Every entry in between has a term the follower's log cannot match,
    // so a whole term goes per round trip instead of one entry.
    Log(absl::StrCat("received MsgAppResp(rejected, hint: (index ", m.reject_hint, ", term ",
                     m.log_term, ")) from ", absl::Hex(m.from), " for index ", m.index));
    Index next_probe = m.reject_hint;
    if (m.log_term > 0) {
      next_probe =
          log_.FindConflictByTerm(std::min(m.reject_hint, log_.LastIndex()), m.log_term).first;
    }
    if (pr.MaybeDecrTo(m.index, next_probe)) {
      if (pr.state == ProgressState::kReplicate) pr.BecomeProbe();
      Log(absl::StrCat("decreased progress of ", absl::Hex(m.from), " to [", pr.Describe(), "]"));
      SendAppend(m.from);
    }
    return;
  }
  const bool was_paused = pr.IsPaused();
  const bool updated = pr.MaybeUpdate(m.index);
  // A probe answered at the already known match index still proves the logs match there.
  if (!updated && !(pr.state == ProgressState::kProbe && pr.match == m.index)) return;
  switch (pr.state) {
    case ProgressState::kProbe:
      pr.BecomeReplicate();
      break;
    case ProgressState::kSnapshot:
      // The snapshot (or entries reaching past the compacted prefix) got it back on the log.
      if (pr.match + 1 >= log_.FirstIndex()) {
        Log(absl::StrCat("recovered ", absl::Hex(m.from), " from needing a snapshot [",
                         pr.Describe(), "]"));
        pr.BecomeProbe();
        pr.BecomeReplicate();
      }
      break;
    case ProgressState::kReplicate:
      pr.inflights.FreeLE(m.index);
      break;
  }
  // Everyone learns a new commit index with the next Ready's appends (one broadcast however many
  // responses moved it).
  if (MaybeCommit()) commit_pending_ = true;
  // It was held back: tell it where we are, unless the coming commit broadcast will.
  if (was_paused && !commit_pending_) SendAppend(m.from);
  // Stream what remains, as far as flow control allows.
  while (MaybeSendAppend(m.from, false)) {
  }
  if (m.from == lead_transferee_ && pr.match == log_.LastIndex()) {
    Log(absl::StrCat("sent MsgTimeoutNow to ", absl::Hex(m.from), ": its log is up to date"));
    SendTimeoutNow(m.from);
  }
}

void Raft::HandleHeartbeatResponse(const Message& m, Progress& pr) {
  pr.recent_active = true;
  pr.probe_sent = false;
  // A full window with the follower alive: free one slot so replication cannot stall on a lost
  // response.
  if (pr.state == ProgressState::kReplicate && pr.inflights.Full()) pr.inflights.FreeFirstOne();
  if (pr.match < log_.LastIndex()) {
    SendAppend(m.from);
  } else if (m.from == lead_transferee_) {
    // The transferee is caught up and still answers at this term: the MsgTimeoutNow sent when it
    // caught up was lost, or arrived while it could not campaign (committed conf changes not yet
    // applied). Send it again; a duplicate reaching it after it campaigned carries a term it has
    // left, and is ignored.
    Log(absl::StrCat("sent MsgTimeoutNow to ", absl::Hex(m.from), ": its log is up to date"));
    SendTimeoutNow(m.from);
  }
  const uint64_t round = ReadIndexRounds::DecodeRound(m.context);
  if (round != 0) {
    reads_.RecordAck(m.from, round);
    MaybeFinishReadRound();
  }
}

// ---------------------------------------------------------------------------------------------
// Leader transfer (thesis §3.10)

void Raft::HandleTransferLeader(const Message& m, Progress& pr) {
  const NodeId transferee = m.from;
  if (pr.is_learner) {
    Log(absl::StrCat("ignored leader transfer to learner ", absl::Hex(transferee)));
    return;
  }
  if (lead_transferee_ != kNoNode) {
    if (lead_transferee_ == transferee) {
      Log(absl::StrCat("leader transfer to ", absl::Hex(transferee), " already in progress"));
      return;
    }
    Log(absl::StrCat("abandoned leader transfer to ", absl::Hex(lead_transferee_), " for ",
                     absl::Hex(transferee)));
    AbortLeaderTransfer();
  }
  if (transferee == id_) {
    Log("ignored leader transfer to self: already leader");
    return;
  }
  Log(absl::StrCat("starting leader transfer to ", absl::Hex(transferee)));
  // The transfer must finish within an election timeout (TickHeartbeat abandons it after that).
  transfer_elapsed_ = 0;
  lead_transferee_ = transferee;
  if (pr.match == log_.LastIndex()) {
    Log(absl::StrCat("sent MsgTimeoutNow to ", absl::Hex(transferee), ": its log is up to date"));
    SendTimeoutNow(transferee);
  } else {
    SendAppend(transferee);
  }
}

void Raft::AbortLeaderTransfer() {
  lead_transferee_ = kNoNode;
  transfer_elapsed_ = 0;
}

// ---------------------------------------------------------------------------------------------
// ReadIndex (thesis §6.4)

void Raft::HandleReadIndexRequest(NodeId from, std::string context) {
  reads_.Enqueue(ReadRequest{.from = from, .context = std::move(context)});
  MaybeStartReadRound();
}

void Raft::MaybeStartReadRound() {
  if (role_ != Role::kLeader || reads_.InFlight() || !reads_.HasWaiting()) return;
  // Until the leader has committed an entry of its term, its commit index may lag behind entries
  // an earlier leader committed: reads wait (they start a round from OnCommitAdvanced).
  if (!CommittedEntryInCurrentTerm()) return;
  const uint64_t round = reads_.StartRound(log_.committed());
  reads_.RecordAck(id_, round);
  MaybeFinishReadRound();  // a single voter needs no one else
  if (reads_.InFlightRound() == round) {
    const std::string context = ReadIndexRounds::EncodeRound(round);
    for (const auto& [id, pr] : trk_.progress()) {
      if (id != id_) SendHeartbeat(id, context);
    }
  }
}

void Raft::MaybeFinishReadRound() {
  if (role_ != Role::kLeader || !reads_.InFlight()) return;
  if (TallyVotes(trk_.voters(), reads_.acks()) != VoteResult::kWon) return;
  ReadIndexRounds::FinishedRound done = reads_.FinishRound();
  for (ReadRequest& r : done.requests) ReleaseRead(r.from, done.index, std::move(r.context));
  // Reads that arrived during the round get the next one.
  MaybeStartReadRound();
}

void Raft::ReleaseRead(NodeId from, Index index, std::string context) {
  if (from == id_) {
    read_states_.push_back(ReadState{.index = index, .context = std::move(context)});
  } else {
    Send(Message{.type = MessageType::kReadIndexResp,
                 .to = from,
                 .index = index,
                 .context = std::move(context)});
  }
}

}  // namespace kvd::raft
