// The role-independent half of the Raft state machine: construction, role transitions, the term
// rules every message goes through, elections and votes, membership switches, and the outbox.
#include "raft/raft.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "raft/check.h"
#include "raft/confchange.h"
#include "raft/errors.h"

namespace kvd::raft {

const char* MessageTypeName(MessageType t) {
  switch (t) {
    case MessageType::kHup:
      return "MsgHup";
    case MessageType::kBeat:
      return "MsgBeat";
    case MessageType::kProp:
      return "MsgProp";
    case MessageType::kApp:
      return "MsgApp";
    case MessageType::kAppResp:
      return "MsgAppResp";
    case MessageType::kVote:
      return "MsgVote";
    case MessageType::kVoteResp:
      return "MsgVoteResp";
    case MessageType::kSnap:
      return "MsgSnap";
    case MessageType::kHeartbeat:
      return "MsgHeartbeat";
    case MessageType::kHeartbeatResp:
      return "MsgHeartbeatResp";
    case MessageType::kUnreachable:
      return "MsgUnreachable";
    case MessageType::kSnapStatus:
      return "MsgSnapStatus";
    case MessageType::kCheckQuorum:
      return "MsgCheckQuorum";
    case MessageType::kTransferLeader:
      return "MsgTransferLeader";
    case MessageType::kTimeoutNow:
      return "MsgTimeoutNow";
    case MessageType::kReadIndex:
      return "MsgReadIndex";
    case MessageType::kReadIndexResp:
      return "MsgReadIndexResp";
    case MessageType::kPreVote:
      return "MsgPreVote";
    case MessageType::kPreVoteResp:
      return "MsgPreVoteResp";
  }
  return "MsgUnknown";
}

namespace {

MessageType VoteResponseType(MessageType t) {
  return t == MessageType::kPreVote ? MessageType::kPreVoteResp : MessageType::kVoteResp;
}

}  // namespace

Raft::Raft(const Config& c)
    : id_(c.id),
      election_timeout_(c.election_tick),
      heartbeat_timeout_(c.heartbeat_tick),
      max_size_per_msg_(c.max_size_per_msg),
      max_uncommitted_size_(c.max_uncommitted_entries_size),
      pre_vote_(c.pre_vote),
      check_quorum_(c.check_quorum),
      disable_proposal_forwarding_(c.disable_proposal_forwarding),
      log_sink_(c.log),
      log_(c.storage, c.max_committed_size_per_ready),
      trk_(c.max_inflight_msgs),
      // Members are often configured with one seed; mixing in the id keeps their election timeouts
      // apart, which is the point of randomizing them.
      prng_(c.seed ^ (c.id * 0x9e3779b97f4a7c15ULL)) {}

absl::StatusOr<std::unique_ptr<Raft>> Raft::Create(const Config& c) {
  if (c.id == kNoNode) return absl::InvalidArgumentError("config: id must not be 0");
  if (c.storage == nullptr) return absl::InvalidArgumentError("config: storage is required");
  if (c.heartbeat_tick <= 0) {
    return absl::InvalidArgumentError("config: heartbeat_tick must be greater than 0");
  }
  if (c.election_tick <= c.heartbeat_tick) {
    return absl::InvalidArgumentError("config: election_tick must be greater than heartbeat_tick");
  }
  if (c.max_inflight_msgs == 0) {
    return absl::InvalidArgumentError("config: max_inflight_msgs must be greater than 0");
  }
  if (c.max_committed_size_per_ready == 0) {
    return absl::InvalidArgumentError(
        "config: max_committed_size_per_ready must be greater than 0");
  }

  std::unique_ptr<Raft> r(new Raft(c));
  const InitialState st = c.storage->GetInitialState();
  const Index first = c.storage->FirstIndex();
  const Index last = c.storage->LastIndex();
  if (!st.hard_state.IsEmpty()) {
    if (st.hard_state.commit > last) {
      return absl::InvalidArgumentError(absl::StrCat("storage: hard state commit ",
                                                     st.hard_state.commit, " is beyond the log [",
                                                     first - 1, ", ", last, "]"));
    }
    r->term_ = st.hard_state.term;
    r->vote_ = st.hard_state.vote;
  }
  // Config::applied below the snapshot means the state machine starts from the snapshot.
  const Index applied = std::max(c.applied, first - 1);
  if (applied > last) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: applied index ", applied, " is beyond the last index ", last,
                     " (the log lost entries the state machine has)"));
  }
  // The durable commit index may lag behind what is known to be committed:
  //  - the snapshot's index is committed by construction, and a crash between a Ready's snapshot
  //    and its hard state (written in that order) leaves the older commit index;
  //  - only committed entries are handed out for applying, and a Ready that only moves the commit
  //    index is not synced, so after a power loss the state machine may have applied (and made
  //    durable) entries above the durable commit index.
  // Both are in this log: committed entries never change.
  const Index committed = std::max({st.hard_state.commit, first - 1, applied});
  r->log_.InitPositions(committed, applied);
  r->trk_.SetConfState(st.conf_state, last + 1);
  r->conf_index_ = first - 1;
  r->durable_term_ = r->term_;
  r->Log(absl::StrCat("starting with ", DescribeConfState(r->trk_.conf_state()), " term=", r->term_,
                      " commit=", committed, " applied=", applied, " last=", r->log_.LastIndex(),
                      "/", r->log_.LastTerm()));
  r->BecomeFollower(r->term_, kNoNode);
  return r;
}

void Raft::Log(const std::string& line) const {
  if (log_sink_) log_sink_(absl::StrCat(id_, " ", line));
}

// ---------------------------------------------------------------------------------------------
// Outbox

void Raft::Send(Message m) {
  // A forwarded MsgTransferLeader names the transferee in `from`; everything else is from us.
  if (m.from == kNoNode) m.from = id_;
  switch (m.type) {
    case MessageType::kVote:
    case MessageType::kPreVote:
    case MessageType::kVoteResp:
    case MessageType::kPreVoteResp:
      // A pre-vote is asked for term + 1 and answered with the term asked about; the callers
      // set these terms themselves.
      KVD_CHECK(m.term != 0, "vote message without a term: ", MessageTypeName(m.type));
      break;
    case MessageType::kProp:
    case MessageType::kReadIndex:
      // Forwarded requests act as local messages on the leader: no term.
      m.term = 0;
      break;
    default:
      m.term = term_;
  }
  // Which messages may leave before the Ready they come with is durable (THE READY CONTRACT):
  //  - a leader's messages, once its term is durable. They vouch only for the leader's term
  //    (durable: its self-vote was persisted before any vote request left) and for entries the
  //    receiver will persist itself. Its own unpersisted entries are not counted by anyone until
  //    a follower persisted them, and by the leader itself only after Advance().
  //    A leader whose term is not durable yet (a single voter elects itself in one step) holds
  //    everything: after a crash it could be elected again in the same term with another log.
  //  - forwarded requests (proposals, reads, transfers), which promise nothing.
  // Everything else vouches for this node's state and waits: votes and pre-votes (the vote and
  // term must be durable, and the log they describe), append and heartbeat responses (the
  // appended entries must be durable before the leader counts them), vote requests (the
  // candidate's term and self-vote must be durable, or it could vote twice in one term).
  const bool immediate = (role_ == Role::kLeader && term_ == durable_term_) ||
                         m.type == MessageType::kProp || m.type == MessageType::kReadIndex ||
                         m.type == MessageType::kTransferLeader;
  (immediate ? msgs_ : msgs_after_persist_).push_back(std::move(m));
}

// ---------------------------------------------------------------------------------------------
// Roles

void Raft::Reset(Term term) {
  if (term_ != term) {
    term_ = term;
    vote_ = kNoNode;
  }
  lead_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetRandomizedElectionTimeout();
  AbortLeaderTransfer();
  trk_.ResetVotes();
  const Index next = log_.LastIndex() + 1;
  for (auto& [id, pr] : trk_.progress()) pr.Reset(next);
  pending_conf_index_ = 0;
  appends_pending_ = false;
  commit_pending_ = false;
  uncommitted_size_ = 0;
  reads_.Reset();
}

void Raft::ResetRandomizedElectionTimeout() {
  // §5.2: timeouts drawn from [election_timeout, 2 * election_timeout) make split votes rare.
  randomized_election_timeout_ =
      election_timeout_ + static_cast<int>(prng_.Below(static_cast<uint64_t>(election_timeout_)));
}

void Raft::BecomeFollower(Term term, NodeId lead) {
  Reset(term);
  lead_ = lead;
  role_ = Role::kFollower;
  Log(absl::StrCat("became follower at term ", term_,
                   lead_ == kNoNode ? std::string() : absl::StrCat(" (leader ", lead_, ")")));
}

void Raft::BecomePreCandidate() {
  KVD_CHECK(role_ != Role::kLeader, "leader cannot become pre-candidate");
  // Pre-vote changes neither the term nor the vote: a pre-candidate that loses leaves no trace,
  // which is what keeps a partitioned node from raising the cluster's term (thesis §9.6).
  trk_.ResetVotes();
  lead_ = kNoNode;
  role_ = Role::kPreCandidate;
  Log(absl::StrCat("became pre-candidate at term ", term_));
}

void Raft::BecomeCandidate() {
  KVD_CHECK(role_ != Role::kLeader, "leader cannot become candidate");
  Reset(term_ + 1);
  vote_ = id_;
  role_ = Role::kCandidate;
  Log(absl::StrCat("became candidate at term ", term_));
}

void Raft::BecomeLeader() {
  KVD_CHECK(role_ != Role::kFollower, "follower cannot become leader without an election");
  Reset(term_);
  lead_ = id_;
  role_ = Role::kLeader;
  if (Progress* self = trk_.Get(id_)) {
    // The leader's own log counts toward commitment only as far as it is durable.
    self->match = log_.PersistedLastIndex();
    self->BecomeReplicate();
    self->recent_active = true;
  }
  // Conf changes in the uncommitted tail (appended by an earlier leader) may still be pending: no
  // new change is accepted until everything up to here is applied.
  pending_conf_index_ = log_.LastIndex();
  // §5.4.2/§8: an empty entry of the new term lets the leader commit (and learn the commit index
  // of) everything before it, and is what ReadIndex and conf changes wait for.
  const bool appended = AppendEntries({Entry{}});
  KVD_CHECK(appended, "the leader's empty entry was refused");
  Log(absl::StrCat("became leader at term ", term_));
}

bool Raft::Promotable() const { return trk_.IsVoter(id_) && !log_.UnstableSnapshot().has_value(); }

bool Raft::HasUnappliedConfChanges() const {
  if (!conf_changes_handed_out_.empty()) return true;
  if (log_.committed() <= log_.applying()) return false;
  absl::StatusOr<std::vector<Entry>> ents =
      log_.Slice(log_.applying() + 1, log_.committed() + 1, UINT64_MAX);
  if (!ents.ok()) return true;  // unknown: be conservative
  return std::any_of(ents->begin(), ents->end(),
                     [](const Entry& e) { return e.type == EntryType::kConfChange; });
}

void Raft::Hup(CampaignType t) {
  if (role_ == Role::kLeader) {
    Log("ignoring MsgHup: already leader");
    return;
  }
  if (!Promotable()) {
    Log("cannot campaign: not a voter");
    return;
  }
  // A committed membership change not yet applied may change who votes; campaigning under the
  // old membership could elect a leader the new one does not recognize.
  if (HasUnappliedConfChanges()) {
    Log(absl::StrCat("cannot campaign at term ", term_,
                     ": committed configuration changes are not yet applied"));
    return;
  }
  Log(absl::StrCat("starting a new election at term ", term_));
  Campaign(t);
}

void Raft::Campaign(CampaignType t) {
  MessageType vote_type;
  Term term;
  if (t == CampaignType::kPreElection) {
    BecomePreCandidate();
    vote_type = MessageType::kPreVote;
    // Asks about the next term without moving to it.
    term = term_ + 1;
  } else {
    BecomeCandidate();
    vote_type = MessageType::kVote;
    term = term_;
  }
  // The candidate's own vote: for a real election it is vote_ (persisted with the term before any
  // request leaves, see Send).
  trk_.RecordVote(id_, true);
  if (trk_.TallyVotes() == VoteResult::kWon) {
    // A single voter wins at once.
    if (t == CampaignType::kPreElection) {
      Campaign(CampaignType::kElection);
    } else {
      BecomeLeader();
      BroadcastAppend();  // learners, if any
    }
    return;
  }
  for (NodeId to : trk_.voters()) {
    if (to == id_) continue;
    Log(absl::StrCat("[logterm: ", log_.LastTerm(), ", index: ", log_.LastIndex(), "] sent ",
                     MessageTypeName(vote_type), " request to ", to, " at term ", term));
    Message m{.type = vote_type,
              .to = to,
              .term = term,
              .log_term = log_.LastTerm(),
              .index = log_.LastIndex()};
    if (t == CampaignType::kTransfer) m.context = kCampaignTransferContext;
    Send(std::move(m));
  }
}

void Raft::HandleVoteRequest(const Message& m) {
  // §5.2: one vote per term, first come first served (a repeated request from the node already
  // voted for is granted again: the answer may have been lost). A pre-vote for a later term is
  // granted without voting, by anyone whose log is not more up to date.
  const bool can_vote = vote_ == m.from || (vote_ == kNoNode && lead_ == kNoNode) ||
                        (m.type == MessageType::kPreVote && m.term > term_);
  // §5.4.1: never for a candidate whose log is less up to date than ours.
  if (can_vote && log_.IsUpToDate(m.index, m.log_term)) {
    Log(absl::StrCat("[logterm: ", log_.LastTerm(), ", index: ", log_.LastIndex(),
                     ", vote: ", vote_, "] cast ", MessageTypeName(m.type), " for ", m.from,
                     " [logterm: ", m.log_term, ", index: ", m.index, "] at term ", term_));
    // The answer carries the term asked about: for a pre-vote, term_ + 1, which this node does
    // not move to.
    Send(Message{.type = VoteResponseType(m.type), .to = m.from, .term = m.term});
    if (m.type == MessageType::kVote) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    Log(absl::StrCat("[logterm: ", log_.LastTerm(), ", index: ", log_.LastIndex(),
                     ", vote: ", vote_, "] rejected ", MessageTypeName(m.type), " from ", m.from,
                     " [logterm: ", m.log_term, ", index: ", m.index, "] at term ", term_));
    Send(Message{.type = VoteResponseType(m.type), .to = m.from, .term = term_, .reject = true});
  }
}

// ---------------------------------------------------------------------------------------------
// Step: the term rules, then the role's handler.

absl::Status Raft::Step(Message m) {
  if (m.term == 0) {
    // A local message (or a forwarded proposal / read request).
  } else if (m.term > term_) {
    if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
      const bool transfer = m.context == kCampaignTransferContext;
      // Leader lease (thesis §4.2.3): a node that heard from a leader within the minimum election
      // timeout ignores (pre-)votes, so a node that was partitioned away cannot depose a working
      // leader. A leader transfer's campaign is not disruption: it was asked for.
      const bool in_lease =
          check_quorum_ && lead_ != kNoNode && election_elapsed_ < election_timeout_;
      if (!transfer && in_lease) {
        Log(absl::StrCat("[logterm: ", log_.LastTerm(), ", index: ", log_.LastIndex(),
                         ", vote: ", vote_, "] ignored ", MessageTypeName(m.type), " from ", m.from,
                         " [logterm: ", m.log_term, ", index: ", m.index, "] at term ", term_,
                         ": lease is not expired (remaining ticks: ",
                         election_timeout_ - election_elapsed_, ")"));
        return absl::OkStatus();
      }
    }
    if (m.type == MessageType::kPreVote) {
      // Never moves the term: answering a pre-vote commits to nothing.
    } else if (m.type == MessageType::kPreVoteResp && !m.reject) {
      // A granted pre-vote carries the term the pre-candidate asked about (term_ + 1); the
      // pre-candidate only moves there once a quorum agreed.
    } else {
      Log(absl::StrCat("received ", MessageTypeName(m.type), " with higher term ", m.term, " from ",
                       m.from, " at term ", term_));
      // §5.1: a higher term makes any node a follower in it.
      if (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat ||
          m.type == MessageType::kSnap) {
        BecomeFollower(m.term, m.from);
      } else {
        BecomeFollower(m.term, kNoNode);
      }
    }
  } else if (m.term < term_) {
    if ((check_quorum_ || pre_vote_) &&
        (m.type == MessageType::kHeartbeat || m.type == MessageType::kApp)) {
      // A leader of an older term that is still sending (it was partitioned away, or this node's
      // term moved while it could not win): answer with our term so it steps down. Without this,
      // with check-quorum or pre-vote a node that raised its term could never rejoin: it ignores
      // the old leader, and its own (pre-)votes are refused while the others hear from that
      // leader.
      Send(Message{.type = MessageType::kAppResp, .to = m.from});
    } else if (m.type == MessageType::kPreVote) {
      // Answer so the pre-candidate learns the newer term.
      Log(absl::StrCat("rejected ", MessageTypeName(m.type), " from ", m.from, " at older term ",
                       m.term, " (current term ", term_, ")"));
      Send(Message{.type = MessageType::kPreVoteResp, .to = m.from, .term = term_, .reject = true});
    } else {
      Log(absl::StrCat("ignored ", MessageTypeName(m.type), " from ", m.from, " at older term ",
                       m.term, " (current term ", term_, ")"));
    }
    return absl::OkStatus();
  }

  switch (m.type) {
    case MessageType::kHup:
      Hup(pre_vote_ ? CampaignType::kPreElection : CampaignType::kElection);
      return absl::OkStatus();
    case MessageType::kVote:
    case MessageType::kPreVote:
      HandleVoteRequest(m);
      return absl::OkStatus();
    default:
      break;
  }
  switch (role_) {
    case Role::kLeader:
      return StepLeader(m);
    case Role::kCandidate:
    case Role::kPreCandidate:
      return StepCandidate(m);
    case Role::kFollower:
      return StepFollower(m);
  }
  return absl::OkStatus();
}

void Raft::Tick() {
  if (role_ == Role::kLeader) {
    TickHeartbeat();
  } else {
    TickElection();
  }
}

// ---------------------------------------------------------------------------------------------
// Membership

void Raft::NoteHandedOut(const std::vector<Entry>& committed) {
  for (const Entry& e : committed) {
    if (e.type == EntryType::kConfChange) conf_changes_handed_out_.push_back(e.index);
  }
}

ConfState Raft::ApplyConfChange(const ConfChange& cc) {
  Index index = 0;
  if (!conf_changes_handed_out_.empty()) {
    index = conf_changes_handed_out_.front();
    conf_changes_handed_out_.pop_front();
  }
  if (index != 0 && index <= conf_index_) {
    // A snapshot installed meanwhile already carries a later membership.
    Log(absl::StrCat("skipped conf change ", DescribeConfChange(cc), " at index ", index,
                     ": the membership already reflects index ", conf_index_));
    return trk_.conf_state();
  }
  if (trk_.voters().empty()) {
    // This node does not know the membership (it joined with an empty one and has received no
    // snapshot): a change applied to nothing would give a wrong membership, possibly one where
    // this node is the only voter and elects itself. It waits for a snapshot instead.
    Log(absl::StrCat("ignored conf change ", DescribeConfChange(cc),
                     ": this node does not know the membership yet (it needs a snapshot)"));
    return trk_.conf_state();
  }
  absl::StatusOr<ConfState> next = ApplyChangeToConfState(trk_.conf_state(), cc);
  if (!next.ok()) {
    // Every member reaches the same verdict on the same committed entry, so ignoring it keeps
    // them in agreement.
    Log(absl::StrCat("ignored conf change ", DescribeConfChange(cc), ": ",
                     next.status().message()));
    return trk_.conf_state();
  }
  if (index != 0) conf_index_ = index;
  Log(absl::StrCat("applied conf change ", DescribeConfChange(cc), "; switched to ",
                   DescribeConfState(*next)));
  SwitchToConfig(*next);
  return trk_.conf_state();
}

void Raft::SwitchToConfig(const ConfState& cs) {
  std::vector<NodeId> added;
  for (NodeId id : cs.voters) {
    if (!trk_.IsMember(id)) added.push_back(id);
  }
  for (NodeId id : cs.learners) {
    if (!trk_.IsMember(id)) added.push_back(id);
  }
  trk_.SetConfState(cs, log_.LastIndex() + 1);
  if (role_ != Role::kLeader) return;
  if (!trk_.IsVoter(id_)) {
    // The leader removed itself. Its quorum no longer includes it (SetConfState dropped its
    // Progress). Let the remaining members learn the commit index, which covers the removal,
    // then step down: it will never campaign again (not Promotable).
    MaybeCommit();
    BroadcastAppend();
    Log("stepping down: removed from the configuration");
    BecomeFollower(term_, kNoNode);
    return;
  }
  if (lead_transferee_ != kNoNode && !trk_.IsVoter(lead_transferee_)) AbortLeaderTransfer();
  // The quorum changed: a smaller one may commit more. New members get a first (probing) append
  // now rather than at the next heartbeat.
  if (MaybeCommit()) {
    BroadcastAppend();
  } else {
    for (NodeId id : added) {
      if (id != id_) SendAppend(id);
    }
  }
  MaybeFinishReadRound();
}

// ---------------------------------------------------------------------------------------------
// The hand-off with RawNode

void Raft::OnPersisted(Term durable_term) {
  durable_term_ = durable_term;
  if (role_ != Role::kLeader) return;
  // The leader counts its own log toward commitment only now that it is durable.
  Progress* self = trk_.Get(id_);
  if (self == nullptr) return;
  if (self->MaybeUpdate(log_.PersistedLastIndex()) && MaybeCommit()) commit_pending_ = true;
}

void Raft::OnApplied(uint64_t bytes) {
  if (role_ != Role::kLeader) return;
  uncommitted_size_ -= std::min(uncommitted_size_, bytes);
}

Status Raft::GetStatus() const {
  Status st;
  st.id = id_;
  st.hard_state = hard_state();
  st.soft_state = soft_state();
  st.applied = log_.applied();
  st.last_index = log_.LastIndex();
  st.conf_state = trk_.conf_state();
  st.lead_transferee = lead_transferee_;
  if (role_ == Role::kLeader) {
    for (const auto& [id, pr] : trk_.progress()) {
      st.progress.emplace_back(id, PeerProgress{.match = pr.match,
                                                .next = pr.next,
                                                .state = pr.state,
                                                .is_learner = pr.is_learner,
                                                .recent_active = pr.recent_active});
    }
  }
  return st;
}

}  // namespace kvd::raft
