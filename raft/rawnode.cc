#include "raft/rawnode.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "raft/check.h"
#include "raft/confchange.h"
#include "raft/entry_size.h"
#include "raft/errors.h"
#include "raft/raft.h"

namespace kvd::raft {

const char* RoleName(Role r) {
  switch (r) {
    case Role::kFollower:
      return "StateFollower";
    case Role::kCandidate:
      return "StateCandidate";
    case Role::kPreCandidate:
      return "StatePreCandidate";
    case Role::kLeader:
      return "StateLeader";
  }
  return "StateUnknown";
}

namespace {

// Message types only a node's owner or the core itself may step.
bool IsLocalOnly(MessageType t) {
  switch (t) {
    case MessageType::kHup:
    case MessageType::kBeat:
    case MessageType::kUnreachable:
    case MessageType::kSnapStatus:
    case MessageType::kCheckQuorum:
      return true;
    default:
      return false;
  }
}

bool IsResponse(MessageType t) {
  switch (t) {
    case MessageType::kAppResp:
    case MessageType::kVoteResp:
    case MessageType::kPreVoteResp:
    case MessageType::kHeartbeatResp:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<RawNode>> RawNode::Create(const Config& config) {
  absl::StatusOr<std::unique_ptr<Raft>> raft = Raft::Create(config);
  if (!raft.ok()) return raft.status();
  return std::unique_ptr<RawNode>(new RawNode(std::move(*raft)));
}

RawNode::RawNode(std::unique_ptr<Raft> raft) : raft_(std::move(raft)) {
  ReadyTracking& t = raft_->ready_tracking();
  t.prev_soft_state = raft_->soft_state();
  t.prev_hard_state = raft_->hard_state();
}

RawNode::~RawNode() = default;

void RawNode::Tick() { raft_->Tick(); }

void RawNode::Campaign() {
  raft_->Step(Message{.type = MessageType::kHup, .from = raft_->id()}).IgnoreError();
}

absl::Status RawNode::Propose(std::string data) {
  Message m{.type = MessageType::kProp, .from = raft_->id()};
  m.entries.push_back(Entry{.type = EntryType::kNormal, .data = std::move(data)});
  return raft_->Step(std::move(m));
}

absl::Status RawNode::ProposeConfChange(const ConfChange& cc) {
  Message m{.type = MessageType::kProp, .from = raft_->id()};
  m.entries.push_back(Entry{.type = EntryType::kConfChange, .data = EncodeConfChange(cc)});
  return raft_->Step(std::move(m));
}

ConfState RawNode::ApplyConfChange(const ConfChange& cc) { return raft_->ApplyConfChange(cc); }

absl::Status RawNode::Step(Message m) {
  if (IsLocalOnly(m.type)) {
    return ErrStepRejected(absl::StrCat(MessageTypeName(m.type), " is a local message"));
  }
  if (IsResponse(m.type) && !raft_->IsMember(m.from)) {
    return ErrStepRejected(absl::StrCat(MessageTypeName(m.type), " from ", absl::Hex(m.from),
                                        ", which is not a member"));
  }
  return raft_->Step(std::move(m));
}

void RawNode::ReadIndex(std::string context) {
  raft_
      ->Step(Message{
          .type = MessageType::kReadIndex, .from = raft_->id(), .context = std::move(context)})
      .IgnoreError();
}

void RawNode::TransferLeader(NodeId transferee) {
  raft_->Step(Message{.type = MessageType::kTransferLeader, .from = transferee}).IgnoreError();
}

void RawNode::ReportUnreachable(NodeId id) {
  raft_->Step(Message{.type = MessageType::kUnreachable, .from = id}).IgnoreError();
}

void RawNode::ReportSnapshot(NodeId id, bool failed) {
  raft_->Step(Message{.type = MessageType::kSnapStatus, .from = id, .reject = failed})
      .IgnoreError();
}

bool RawNode::HasReady() const {
  const ReadyTracking& t = raft_->ready_tracking();
  if (t.outstanding) return false;
  const RaftLog& log = raft_->log();
  if (raft_->soft_state() != t.prev_soft_state) return true;
  if (raft_->hard_state() != t.prev_hard_state) return true;
  return log.UnstableSnapshot().has_value() || !log.UnstableEntries().empty() ||
         log.HasNextCommittedEntries() || raft_->HasOutput();
}

Ready RawNode::GetReady() {
  ReadyTracking& t = raft_->ready_tracking();
  KVD_CHECK(!t.outstanding, "GetReady called again before Advance");
  raft_->FlushAppends();
  RaftLog& log = raft_->log();
  Ready rd;
  const SoftState ss = raft_->soft_state();
  if (ss != t.prev_soft_state) {
    rd.soft_state = ss;
    t.prev_soft_state = ss;
  }
  const HardState hs = raft_->hard_state();
  const HardState before = t.prev_hard_state;
  if (hs != t.prev_hard_state) {
    rd.hard_state = hs;
    t.prev_hard_state = hs;
  }
  rd.read_states = raft_->TakeReadStates();
  rd.entries = log.UnstableEntries();
  if (log.UnstableSnapshot()) rd.snapshot = *log.UnstableSnapshot();
  rd.committed_entries = log.NextCommittedEntries();
  rd.messages = raft_->TakeMessages();
  rd.messages_after_persist = raft_->TakeMessagesAfterPersist();
  // The term and vote must survive a crash (one vote per term); so must appended entries, which
  // responses vouch for. A moved commit index alone can be recomputed, so it need not be synced.
  rd.must_sync = !rd.entries.empty() || !rd.snapshot.IsEmpty() || hs.term != before.term ||
                 hs.vote != before.vote;

  t.durable_term = hs.term;
  t.last_entry_index = rd.entries.empty() ? 0 : rd.entries.back().index;
  t.last_entry_term = rd.entries.empty() ? 0 : rd.entries.back().term;
  t.snapshot_index = rd.snapshot.metadata.index;
  t.last_committed_index = 0;
  t.committed_bytes = 0;
  if (!rd.committed_entries.empty()) {
    t.last_committed_index = rd.committed_entries.back().index;
    t.committed_bytes = EntriesDataBytes(rd.committed_entries);
    log.AcceptApplying(t.last_committed_index);
    raft_->NoteHandedOut(rd.committed_entries);
  }
  t.outstanding = true;
  return rd;
}

void RawNode::Advance() {
  ReadyTracking& t = raft_->ready_tracking();
  KVD_CHECK(t.outstanding, "Advance called without an outstanding Ready");
  t.outstanding = false;
  RaftLog& log = raft_->log();
  if (t.snapshot_index != 0) log.StableSnapTo(t.snapshot_index);
  if (t.last_entry_index != 0) log.StableTo(t.last_entry_index, t.last_entry_term);
  if (t.last_committed_index != 0) {
    log.AppliedTo(t.last_committed_index);
    raft_->OnApplied(t.committed_bytes);
  }
  raft_->OnPersisted(t.durable_term);
}

Status RawNode::GetStatus() const { return raft_->GetStatus(); }

}  // namespace kvd::raft
