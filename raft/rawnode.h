// RawNode: one member's Raft state machine, driven by its owner.
//
// The node does no I/O and keeps no time. Time enters as Tick(), the network as Step(), clients
// as Propose() / ProposeConfChange() / ReadIndex() / TransferLeader(); everything the node wants
// done leaves through a Ready. Given the same Config (seed included) and the same sequence of
// calls, a node produces the same Readys. Not thread-safe: one thread drives a node.
//
// THE READY CONTRACT
//
// Loop: if HasReady(), rd = GetReady(); handle rd; Advance(). Nothing else may be called on the
// node between GetReady() and Advance() except Tick/Step/Propose/ReadIndex/... (which only queue
// work for the next Ready), HasReady() and GetStatus(); GetReady() is not called again before
// Advance().
//
// Handling one Ready, in this order of durability:
//  1. rd.messages may be sent at once: before, during or after the write of step 2. They carry
//     nothing that depends on this node's unpersisted state (a leader's appends and heartbeats,
//     vote requests whose term and vote are in rd.hard_state are NOT among them). This is what
//     lets a leader replicate while it writes its own log. Exactly: the messages of a leader
//     whose term is already durable (appends, heartbeats, snapshots, read index responses,
//     MsgTimeoutNow), and requests a follower forwards (MsgProp, MsgReadIndex,
//     MsgTransferLeader). A leader elected in this very Ready (a single voter) holds everything
//     back until its term is durable.
//  2. Make durable, atomically or in this order: rd.snapshot (if not empty; it replaces the whole
//     log: every entry up to and after its index is dropped), rd.entries (appended; an entry whose
//     index is already in the log replaces it and every entry after it), rd.hard_state (if not
//     empty). When rd.must_sync, the write is synced (fdatasync) before step 3. Then append the
//     same to the LogStorage the node reads.
//  3. Only after step 2 is durable: send rd.messages_after_persist (votes, append responses,
//     anything that vouches for this node's persisted log or term): every message not in
//     rd.messages.
//  4. Apply rd.committed_entries to the state machine in order. They are all durable on this node
//     (they came out of an earlier persisted Ready), so applying may run concurrently with the
//     next Ready's step 2. For a kConfChange entry, call ApplyConfChange() once it is applied.
//     rd.read_states become servable once the applied index reaches their index. A Ready with a
//     snapshot has no committed entries: installing the snapshot is the applying.
//  5. Advance(): tells the node that step 2 is durable, so it may count its own log toward
//     commitment (a leader never counts unpersisted entries of its own) and hand out further
//     committed entries. The node then also counts rd.committed_entries as applied (it does not
//     hand them out again); an owner that applies asynchronously may call Advance() first.
//
// HasReady() is false while a Ready is outstanding (between GetReady() and Advance()).
//
// A message that cannot be delivered is simply lost; Raft retries. ReportUnreachable() and
// ReportSnapshot() make retries faster.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/config.h"
#include "raft/types.h"

namespace kvd::raft {

enum class Role : uint8_t { kFollower, kCandidate, kPreCandidate, kLeader };
const char* RoleName(Role r);

// Volatile state that the owner may show or act on; not persisted.
struct SoftState {
  NodeId leader = kNoNode;
  Role role = Role::kFollower;

  bool operator==(const SoftState&) const = default;
};

// The answer to a ReadIndex request: once the application has applied up to index, a read
// issued by the request carrying this context sees every write committed before the request.
struct ReadState {
  Index index = 0;
  std::string context;

  bool operator==(const ReadState&) const = default;
};

struct Ready {
  // Set when the leader or this node's role changed since the last Ready.
  std::optional<SoftState> soft_state;
  // Set when the hard state changed since the last Ready; persist before messages_after_persist.
  std::optional<HardState> hard_state;
  std::vector<ReadState> read_states;
  // To persist (step 2). May start at an index already in the log: truncate from there.
  std::vector<Entry> entries;
  // To install (step 2); IsEmpty() when none.
  Snapshot snapshot;
  // To apply (step 4), in index order, all already durable on this node.
  std::vector<Entry> committed_entries;
  // To send at once (step 1).
  std::vector<Message> messages;
  // To send only after step 2 is durable (step 3).
  std::vector<Message> messages_after_persist;
  // Whether step 2 must be synced to disk before step 3 (false when only the commit index moved).
  bool must_sync = false;
};

enum class ProgressState : uint8_t { kProbe, kReplicate, kSnapshot };

struct PeerProgress {
  Index match = 0;
  Index next = 0;
  ProgressState state = ProgressState::kProbe;
  bool is_learner = false;
  bool recent_active = false;
};

// A snapshot of the node's state for the owner to log or serve (e.g. the Status RPC).
struct Status {
  NodeId id = kNoNode;
  HardState hard_state;
  SoftState soft_state;
  Index applied = 0;
  Index last_index = 0;
  ConfState conf_state;
  NodeId lead_transferee = kNoNode;
  // Per peer, only on a leader; ordered by NodeId.
  std::vector<std::pair<NodeId, PeerProgress>> progress;
};

class Raft;  // raft/raft.h

class RawNode {
 public:
  // Starts (or restarts) a node from config.storage's InitialState and log. InvalidArgument on a
  // bad config (no id, no storage, election_tick <= heartbeat_tick, ...) and on a storage that
  // contradicts itself or Config::applied (a hard state commit index or an applied index beyond
  // the log's last index). The commit index starts at the highest of the hard state's, the
  // storage's snapshot index and Config::applied: each of them is known to be committed, and the
  // durable hard state may lag behind the other two after a crash (see THE READY CONTRACT).
  static absl::StatusOr<std::unique_ptr<RawNode>> Create(const Config& config);
  ~RawNode();
  RawNode(const RawNode&) = delete;
  RawNode& operator=(const RawNode&) = delete;

  // Advances the node's logical clock by one tick.
  void Tick();

  // Starts an election now (skipping the timeout), as after an election timeout: with pre-vote,
  // a pre-vote round first. No effect on a leader, a learner, a node outside the membership, or
  // while committed conf changes are not yet applied (the membership is about to change).
  void Campaign();

  // Proposes data to be appended to the log. On a follower the proposal is forwarded to the
  // leader unless forwarding is disabled. ErrProposalDropped when it cannot be (no leader known,
  // forwarding disabled, leader transfer in progress, uncommitted tail too large). Success means
  // only that the proposal was passed on: it may still be lost and never commit; the caller
  // learns the outcome from committed entries. On the leader, the entries of every proposal
  // made before the next GetReady() leave together: one append per follower in that Ready.
  absl::Status Propose(std::string data);

  // Proposes a single-server membership change. The leader accepts it only when it has committed
  // an entry of its current term and no other change is pending (appended but not yet applied);
  // otherwise ErrProposalDropped. InvalidArgument for a change the membership refuses (see
  // raft/confchange.h: demoting a voter, removing the last voter). The change takes effect on
  // each node when the application applies the committed entry and calls ApplyConfChange.
  absl::Status ProposeConfChange(const ConfChange& cc);

  // Applies a committed and applied conf change to the node's membership and returns the
  // membership now in force. Called exactly once per committed kConfChange entry, in log order:
  // for those handed out in Ready::committed_entries, and, on a restart, for those between the
  // storage's snapshot and Config::applied (which are not handed out again). A leader that
  // removes itself steps down here. A node that knows no membership yet (it joined with an empty
  // one) ignores changes until a snapshot gives it one.
  ConfState ApplyConfChange(const ConfChange& cc);

  // Delivers a message from another node. ErrStepRejected for local-only message types or
  // responses from nodes outside the configuration; other stale or odd messages are ignored.
  absl::Status Step(Message m);

  // Requests a read index for a linearizable read; the answer comes back as a ReadState with
  // the same context in a later Ready (on the leader, or on a follower via the leader). Reads
  // share quorum rounds: at most one round (one heartbeat broadcast) is in flight, and every
  // request arriving meanwhile joins the next round, which starts when the current one is
  // acknowledged by a quorum. A request reaching a leader that has not yet committed an entry of
  // its term waits until it has; one made while no leader is known is dropped, as are those
  // waiting on a leader that steps down (the caller retries after a timeout).
  void ReadIndex(std::string context);

  // Asks the leader to hand leadership to transferee: it stops accepting proposals, brings the
  // transferee's log up to date, then tells it to campaign at once. Abandoned after an election
  // timeout. On a follower the request is forwarded to the leader.
  void TransferLeader(NodeId transferee);

  // The owner could not reach `id`; a leader stops pipelining to it and probes.
  void ReportUnreachable(NodeId id);
  // A snapshot sent to `id` was installed (failed = false) or could not be (failed = true).
  // Until one of these (or the follower's acknowledgement) arrives the leader sends `id` nothing
  // else; if nothing arrives for 10 election timeouts it takes the snapshot to be lost and sends
  // it again.
  void ReportSnapshot(NodeId id, bool failed);

  // Whether GetReady() would return anything to do.
  bool HasReady() const;
  // What the owner must do next (see THE READY CONTRACT above).
  Ready GetReady();
  // Acknowledges the last Ready as handled.
  void Advance();

  Status GetStatus() const;

 private:
  explicit RawNode(std::unique_ptr<Raft> raft);
  std::unique_ptr<Raft> raft_;
};

}  // namespace kvd::raft
