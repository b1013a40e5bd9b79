#include "tests/sim/trace_format.h"

#include "absl/strings/str_cat.h"

namespace kvd::sim {
namespace {

const char* TypeName(raft::MessageType t) {
  switch (t) {
    case raft::MessageType::kHup:
      return "Hup";
    case raft::MessageType::kBeat:
      return "Beat";
    case raft::MessageType::kProp:
      return "Prop";
    case raft::MessageType::kApp:
      return "App";
    case raft::MessageType::kAppResp:
      return "AppResp";
    case raft::MessageType::kVote:
      return "Vote";
    case raft::MessageType::kVoteResp:
      return "VoteResp";
    case raft::MessageType::kSnap:
      return "Snap";
    case raft::MessageType::kHeartbeat:
      return "Heartbeat";
    case raft::MessageType::kHeartbeatResp:
      return "HeartbeatResp";
    case raft::MessageType::kUnreachable:
      return "Unreachable";
    case raft::MessageType::kSnapStatus:
      return "SnapStatus";
    case raft::MessageType::kCheckQuorum:
      return "CheckQuorum";
    case raft::MessageType::kTransferLeader:
      return "TransferLeader";
    case raft::MessageType::kTimeoutNow:
      return "TimeoutNow";
    case raft::MessageType::kReadIndex:
      return "ReadIndex";
    case raft::MessageType::kReadIndexResp:
      return "ReadIndexResp";
    case raft::MessageType::kPreVote:
      return "PreVote";
    case raft::MessageType::kPreVoteResp:
      return "PreVoteResp";
  }
  return "?";
}

const char* RoleShort(raft::Role r) {
  switch (r) {
    case raft::Role::kFollower:
      return "follower";
    case raft::Role::kCandidate:
      return "candidate";
    case raft::Role::kPreCandidate:
      return "pre-candidate";
    case raft::Role::kLeader:
      return "leader";
  }
  return "?";
}

std::string EntryRange(const std::vector<raft::Entry>& es) {
  if (es.empty()) return "[]";
  const raft::Entry& a = es.front();
  const raft::Entry& b = es.back();
  if (es.size() == 1) return absl::StrCat("[", a.index, "/", a.term, "]");
  return absl::StrCat("[", a.index, "/", a.term, "..", b.index, "/", b.term, "]");
}

}  // namespace

std::string DescribeMessage(const raft::Message& m) {
  std::string out = absl::StrCat(m.from, "->", m.to, " ", TypeName(m.type), " t=", m.term);
  if (m.log_term != 0 || m.index != 0) absl::StrAppend(&out, " lt=", m.log_term, " i=", m.index);
  if (m.commit != 0) absl::StrAppend(&out, " c=", m.commit);
  if (!m.entries.empty()) absl::StrAppend(&out, " e=", EntryRange(m.entries));
  if (!m.snapshot.IsEmpty()) {
    absl::StrAppend(&out, " snap=", m.snapshot.metadata.index, "/", m.snapshot.metadata.term);
  }
  if (m.reject) absl::StrAppend(&out, " rej hint=", m.reject_hint);
  if (!m.context.empty()) absl::StrAppend(&out, " ctx=", m.context);
  return out;
}

std::string DescribeReady(const raft::Ready& rd) {
  std::string out;
  if (rd.soft_state.has_value()) {
    absl::StrAppend(&out, "ss=", RoleShort(rd.soft_state->role), "/", rd.soft_state->leader, " ");
  }
  if (rd.hard_state.has_value()) {
    absl::StrAppend(&out, "hs=", rd.hard_state->term, "/", rd.hard_state->vote, "/",
                    rd.hard_state->commit, " ");
  }
  if (!rd.entries.empty()) absl::StrAppend(&out, "e=", EntryRange(rd.entries), " ");
  if (!rd.snapshot.IsEmpty()) {
    absl::StrAppend(&out, "snap=", rd.snapshot.metadata.index, "/", rd.snapshot.metadata.term, " ");
  }
  if (!rd.committed_entries.empty()) {
    absl::StrAppend(&out, "ce=", EntryRange(rd.committed_entries), " ");
  }
  if (!rd.read_states.empty()) absl::StrAppend(&out, "rs=", rd.read_states.size(), " ");
  if (!rd.messages.empty()) absl::StrAppend(&out, "m=", rd.messages.size(), " ");
  if (!rd.messages_after_persist.empty()) {
    absl::StrAppend(&out, "ma=", rd.messages_after_persist.size(), " ");
  }
  absl::StrAppend(&out, rd.must_sync ? "sync" : "nosync");
  return out;
}

std::string DescribeDisk(const raft::MemoryStorage& disk) {
  const raft::HardState& hs = disk.hard_state();
  return absl::StrCat("[first ", disk.FirstIndex(), " last ", disk.LastIndex(), " hs ", hs.term,
                      "/", hs.vote, "/", hs.commit, "]");
}

}  // namespace kvd::sim
