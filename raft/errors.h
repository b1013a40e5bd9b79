// The named errors of the Raft core. Errors cross the module border as absl::Status; callers
// test for a kind with the predicates below, never by comparing message text.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace kvd::raft {

// LogStorage: the requested index is below the first available one (compacted into a snapshot).
absl::Status ErrCompacted();
bool IsCompacted(const absl::Status& s);

// LogStorage: the requested index is above the last one.
absl::Status ErrUnavailable();
bool IsUnavailable(const absl::Status& s);

// LogStorage: a snapshot is being made and cannot be handed out yet; the core retries later.
absl::Status ErrSnapshotTemporarilyUnavailable();
bool IsSnapshotTemporarilyUnavailable(const absl::Status& s);

// RawNode::Propose / ProposeConfChange: the proposal was not accepted (no leader is known, this
// node is a learner, a leader transfer is in progress, or a conf change is already pending).
// The message says which. Nothing was appended; the caller may retry.
absl::Status ErrProposalDropped(std::string_view why);
bool IsProposalDropped(const absl::Status& s);

// RawNode::Step: a message this node cannot accept (a local-only type from the network, a
// response from an unknown peer). The message says which.
absl::Status ErrStepRejected(std::string_view why);
bool IsStepRejected(const absl::Status& s);

}  // namespace kvd::raft
