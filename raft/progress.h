// Progress: what a leader knows of one member's log, and how it paces appends to it.
//
// States (as in etcd's raft):
//  - kProbe: the leader does not know where the follower's log matches its own. It sends one
//    append at a time (then pauses until a response or a heartbeat response arrives), moving
//    `next` back on each rejection, with the follower's hint, until the logs match.
//  - kReplicate: the logs match up to `match`; the leader streams appends optimistically
//    (advancing `next` as it sends), bounded by the inflight window.
//  - kSnapshot: the follower needs entries the leader has compacted; a snapshot is on its way and
//    nothing else is sent until it is reported installed or failed.
//
// Internal to the Raft core; one thread.
#pragma once

#include <cstddef>
#include <string>

#include "raft/inflights.h"
#include "raft/rawnode.h"
#include "raft/types.h"

namespace kvd::raft {

const char* ProgressStateName(ProgressState s);

class Progress {
 public:
  Progress(Index next, size_t max_inflight, bool is_learner);

  Index match = 0;  // highest index known to match the leader's log
  Index next = 1;   // index of the next entry to send
  ProgressState state = ProgressState::kProbe;
  // kSnapshot: the index of the snapshot being sent, and the ticks since it was sent.
  Index pending_snapshot = 0;
  int snapshot_ticks = 0;
  // Heard from since the last check-quorum (or, on a new leader, considered so).
  bool recent_active = false;
  // kProbe: an append was sent and its answer is awaited.
  bool probe_sent = false;
  bool is_learner = false;
  Inflights inflights;

  // Forgets everything learned about the member (a new term): probe from next_index.
  void Reset(Index next_index);
  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(Index snapshot_index);

  // An acknowledgement that the follower's log matches up to n. Returns false if it is stale
  // (n <= match).
  bool MaybeUpdate(Index n);
  // An append with entries up to `last` was sent (or, for entries == 0, an empty probe).
  void SentEntries(Index last, size_t entries);
  // A rejection of the append whose previous index was `rejected`; match_hint is where the
  // leader now believes the logs may match. Returns false if the rejection is stale.
  bool MaybeDecrTo(Index rejected, Index match_hint);
  // Whether the leader must hold further appends to this member.
  bool IsPaused() const;

  std::string Describe() const;
};

}  // namespace kvd::raft
