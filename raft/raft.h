// Raft: one member's consensus state machine (the protocol itself). RawNode wraps it with the
// Ready/Advance hand-off; nothing else uses it.
//
// Everything enters through Step() and Tick(); everything leaves through the outboxes (messages,
// read states) and the log's unstable part, which RawNode collects into a Ready. The role-specific
// halves of Step live in raft_leader.cc, raft_candidate.cc and raft_follower.cc.
//
// Internal to the Raft core; one thread.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/config.h"
#include "raft/prng.h"
#include "raft/progress_tracker.h"
#include "raft/raft_log.h"
#include "raft/rawnode.h"
#include "raft/read_index.h"
#include "raft/types.h"

namespace kvd::raft {

// The context of vote requests of a campaign started by MsgTimeoutNow (leader transfer): such a
// campaign skips pre-vote and is not refused because of a leader lease.
inline constexpr char kCampaignTransferContext[] = "CampaignTransfer";

// A snapshot sent to a follower and neither acknowledged nor reported (RawNode::ReportSnapshot)
// within this many election timeouts is taken to be lost, and sent again.
inline constexpr int kSnapshotRetryElectionTimeouts = 10;

const char* MessageTypeName(MessageType t);

// What RawNode remembers from one Ready to the next (kept here so that rawnode.h shows no
// internals).
struct ReadyTracking {
  SoftState prev_soft_state;
  HardState prev_hard_state;
  // Between GetReady() and Advance().
  bool outstanding = false;
  // What the outstanding Ready asks the owner to make durable and apply.
  Term durable_term = 0;
  Index last_entry_index = 0;
  Term last_entry_term = 0;
  Index snapshot_index = 0;
  Index last_committed_index = 0;
  uint64_t committed_bytes = 0;
};

class Raft {
 public:
  // See RawNode::Create.
  static absl::StatusOr<std::unique_ptr<Raft>> Create(const Config& config);

  absl::Status Step(Message m);
  void Tick();

  // See RawNode::ApplyConfChange.
  ConfState ApplyConfChange(const ConfChange& cc);

  // --- The hand-off with RawNode ---------------------------------------------------------------
  HardState hard_state() const {
    return {.term = term_, .vote = vote_, .commit = log_.committed()};
  }
  SoftState soft_state() const { return {.leader = lead_, .role = role_}; }
  RaftLog& log() { return log_; }
  const RaftLog& log() const { return log_; }
  bool HasOutput() const {
    return !msgs_.empty() || !msgs_after_persist_.empty() || !read_states_.empty() ||
           appends_pending_ || commit_pending_;
  }
  std::vector<Message> TakeMessages() { return std::exchange(msgs_, {}); }
  std::vector<Message> TakeMessagesAfterPersist() { return std::exchange(msgs_after_persist_, {}); }
  std::vector<ReadState> TakeReadStates() { return std::exchange(read_states_, {}); }
  // Committed entries up to last were handed out; the conf changes among them are applied, in
  // order, by ApplyConfChange.
  void NoteHandedOut(const std::vector<Entry>& committed);
  // The owner made a Ready durable: term is the hard state's term then durable; then the log's
  // durable prefix (already moved by RaftLog::StableTo) may count toward commitment.
  void OnPersisted(Term durable_term);
  // Sends the appends for proposals accepted, and the commit index reached, since the last Ready
  // (called when one is taken).
  void FlushAppends();
  // The owner acknowledged applying committed entries of `bytes` data bytes.
  void OnApplied(uint64_t bytes);

  ReadyTracking& ready_tracking() { return ready_tracking_; }
  const ReadyTracking& ready_tracking() const { return ready_tracking_; }

  bool IsMember(NodeId id) const { return trk_.IsMember(id); }
  Status GetStatus() const;
  NodeId id() const { return id_; }

 private:
  enum class CampaignType : uint8_t { kPreElection, kElection, kTransfer };

  explicit Raft(const Config& config);

  // --- Roles (raft.cc) --------------------------------------------------------------------------
  void Reset(Term term);
  void BecomeFollower(Term term, NodeId lead);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void ResetRandomizedElectionTimeout();
  bool Promotable() const;
  bool HasUnappliedConfChanges() const;
  void Hup(CampaignType t);
  void Campaign(CampaignType t);
  void HandleVoteRequest(const Message& m);
  void SwitchToConfig(const ConfState& cs);
  void Log(const std::string& line) const;

  // --- Outbox ------------------------------------------------------------------------------------
  // Stamps from (and term, for all but votes and forwarded requests) and files the message under
  // Ready::messages or Ready::messages_after_persist (see raft.cc).
  void Send(Message m);

  // --- Leader (raft_leader.cc) ------------------------------------------------------------------
  absl::Status StepLeader(Message& m);
  void TickHeartbeat();
  absl::Status AppendProposal(Message& m);
  bool AppendEntries(std::vector<Entry> ents);
  bool MaybeSendAppend(NodeId to, bool send_if_empty);
  void SendAppend(NodeId to) { MaybeSendAppend(to, true); }
  bool MaybeSendSnapshot(NodeId to, Progress& pr);
  void SendHeartbeat(NodeId to, const std::string& context);
  void SendTimeoutNow(NodeId to);
  void BroadcastAppend();
  void BroadcastHeartbeat();
  bool MaybeCommit();
  void OnCommitAdvanced();
  bool CommittedEntryInCurrentTerm() const;
  void HandleAppendResponse(const Message& m, Progress& pr);
  void HandleHeartbeatResponse(const Message& m, Progress& pr);
  void HandleTransferLeader(const Message& m, Progress& pr);
  void AbortLeaderTransfer();
  void HandleReadIndexRequest(NodeId from, std::string context);
  void MaybeStartReadRound();
  void MaybeFinishReadRound();
  void ReleaseRead(NodeId from, Index index, std::string context);

  // --- Candidate and pre-candidate (raft_candidate.cc)
  // --------------------------------------------
  absl::Status StepCandidate(Message& m);

  // --- Follower (raft_follower.cc) ------------------------------------------------------------
  void TickElection();
  absl::Status StepFollower(Message& m);
  void HandleAppendEntries(Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleSnapshot(Message& m);
  bool Restore(Snapshot s);

  // Configuration.
  const NodeId id_;
  const int election_timeout_;
  const int heartbeat_timeout_;
  const uint64_t max_size_per_msg_;
  const uint64_t max_uncommitted_size_;
  const bool pre_vote_;
  const bool check_quorum_;
  const bool disable_proposal_forwarding_;
  const LogSink log_sink_;

  // Persistent state (the hard state: term_, vote_, log_.committed()) and the log.
  Term term_ = 0;
  NodeId vote_ = kNoNode;
  RaftLog log_;
  // The term of the last hard state the owner made durable. A leader whose term is not durable
  // yet sends nothing before the Ready is persisted (see Send).
  Term durable_term_ = 0;

  // Volatile state.
  Role role_ = Role::kFollower;
  NodeId lead_ = kNoNode;
  ProgressTracker trk_;
  // Ticks since the last election timeout (a follower: since it last heard from its leader; a
  // leader: since its last quorum check).
  int election_elapsed_ = 0;
  // Ticks since the last heartbeat broadcast (leader only).
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;
  SplitMix64 prng_;
  // The member leadership is being handed to (leader only), or kNoNode.
  NodeId lead_transferee_ = kNoNode;
  // Ticks since the transfer to lead_transferee_ started (leader only). Separate from
  // election_elapsed_, which times the quorum checks.
  int transfer_elapsed_ = 0;
  // Index of the latest conf change entry this leader appended (or, on election, its last index):
  // no other change is accepted until everything up to it is applied.
  Index pending_conf_index_ = 0;
  // Indexes of the conf change entries handed out for applying and not yet applied by
  // ApplyConfChange, in log order.
  std::deque<Index> conf_changes_handed_out_;
  // The log index the membership in force reflects (a snapshot's, or the last applied change's).
  Index conf_index_ = 0;
  // Proposals were appended whose appends have not been sent yet (see FlushAppends).
  bool appends_pending_ = false;
  // The commit index moved and the followers have not been told yet (see FlushAppends).
  bool commit_pending_ = false;
  // Data bytes of this leader's appended but not yet applied entries.
  uint64_t uncommitted_size_ = 0;
  ReadIndexRounds reads_;

  // Outboxes.
  std::vector<Message> msgs_;
  std::vector<Message> msgs_after_persist_;
  std::vector<ReadState> read_states_;

  ReadyTracking ready_tracking_;
};

}  // namespace kvd::raft
