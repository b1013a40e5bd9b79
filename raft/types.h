// The values the Raft core reads and produces: log entries, hard state, membership, snapshots and
// messages. Plain data with no behaviour; proto/raft_codec.h maps them to their wire and disk form
// (proto/raftpb/raft.proto), field for field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvd::raft {

using NodeId = uint64_t;
using Term = uint64_t;
using Index = uint64_t;

// No node: the vote of a member that has not voted in its term, the leader while none is known.
inline constexpr NodeId kNoNode = 0;

enum class EntryType : uint8_t {
  kNormal = 0,      // data is an opaque command for the state machine (empty: a leader's no-op)
  kConfChange = 1,  // data is an encoded ConfChange (raft/confchange.h)
};

struct Entry {
  Term term = 0;
  Index index = 0;
  EntryType type = EntryType::kNormal;
  std::string data;

  bool operator==(const Entry&) const = default;
};

// What a member persists before answering any message: its current term, whom it voted for in
// that term, and the highest index it knows to be committed.
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;

  bool IsEmpty() const { return term == 0 && vote == kNoNode && commit == 0; }
  bool operator==(const HardState&) const = default;
};

// A membership: voters decide elections and commits; learners only receive the log.
struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;

  bool operator==(const ConfState&) const = default;
};

enum class ConfChangeType : uint8_t {
  kAddNode = 0,         // add a voter, or promote a learner to voter
  kRemoveNode = 1,      // remove a voter or a learner
  kAddLearnerNode = 2,  // add a learner (never demotes a voter)
};

// One single-server membership change, carried in a kConfChange entry.
struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddNode;
  NodeId node_id = kNoNode;
  std::string context;  // opaque to Raft; the server keeps the member's name and URLs here

  bool operator==(const ConfChange&) const = default;
};

struct SnapshotMetadata {
  ConfState conf_state;
  Index index = 0;  // last index the snapshot covers
  Term term = 0;    // term of that entry

  bool operator==(const SnapshotMetadata&) const = default;
};

// A state machine image covering the log up to metadata.index. data is opaque to Raft.
struct Snapshot {
  SnapshotMetadata metadata;
  std::string data;

  bool IsEmpty() const { return metadata.index == 0; }
  bool operator==(const Snapshot&) const = default;
};

// Message kinds. Local ones (kHup, kBeat, kUnreachable, kSnapStatus, kCheckQuorum) are
// stepped by the node's owner or by the core itself and never sent on the wire.
enum class MessageType : uint8_t {
  kHup = 0,
  kBeat = 1,
  kProp = 2,
  kApp = 3,
  kAppResp = 4,
  kVote = 5,
  kVoteResp = 6,
  kSnap = 7,
  kHeartbeat = 8,
  kHeartbeatResp = 9,
  kUnreachable = 10,
  kSnapStatus = 11,
  kCheckQuorum = 12,
  kTransferLeader = 13,
  kTimeoutNow = 14,
  kReadIndex = 15,
  kReadIndexResp = 16,
  kPreVote = 17,
  kPreVoteResp = 18,
};
inline constexpr int kMessageTypeCount = 19;

struct Message {
  MessageType type = MessageType::kHup;
  NodeId to = kNoNode;
  NodeId from = kNoNode;
  Term term = 0;
  Term log_term = 0;
  Index index = 0;
  std::vector<Entry> entries;
  Index commit = 0;
  Snapshot snapshot;
  bool reject = false;
  Index reject_hint = 0;
  std::string context;

  bool operator==(const Message&) const = default;
};

}  // namespace kvd::raft
