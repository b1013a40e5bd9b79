// Membership changes: the binary encoding of a ConfChange inside a kConfChange entry, and what a
// change does to a membership.
//
// ENCODING (the data of a kConfChange entry; it is stored in every log and sent to every peer,
// so it is a durable format)
//
//   offset  size  field
//   0       1     format version: 1
//   1       1     type: 0 = kAddNode, 1 = kRemoveNode, 2 = kAddLearnerNode
//   2       8     node_id, unsigned, little-endian, never 0
//   10      4     N = length of context, unsigned, little-endian
//   14      N     context, opaque bytes
//
// Nothing follows the context. A decoder refuses any other version, an unknown type, node id 0
// and any length that does not add up. A future version bumps the first byte; decoders of this
// version reject what they cannot read rather than guessing.
//
// SEMANTICS (single-server changes; a membership is voters + learners, disjoint)
//  - kAddNode:        the node becomes a voter: added, or promoted if it is a learner; no change
//                     if it already is a voter.
//  - kAddLearnerNode: the node becomes a learner; no change if it already is one. Refused for a
//                     voter (a voter is never demoted).
//  - kRemoveNode:     the node leaves (voter or learner); no change if it is not a member.
//                     Refused if it would leave no voter.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/types.h"

namespace kvd::raft {

inline constexpr uint8_t kConfChangeFormatVersion = 1;

std::string EncodeConfChange(const ConfChange& cc);
// InvalidArgument, naming what is wrong, for anything but a well-formed version-1 encoding.
absl::StatusOr<ConfChange> DecodeConfChange(std::string_view data);

// The membership after applying cc to cs, with voters and learners in increasing order.
// InvalidArgument if cc is refused (see SEMANTICS) or names node 0.
absl::StatusOr<ConfState> ApplyChangeToConfState(const ConfState& cs, const ConfChange& cc);

// "add-voter 4", "add-learner 4", "remove 4": how logs and test scripts show a change.
std::string DescribeConfChange(const ConfChange& cc);
// "voters=(1 2 3) learners=(4)".
std::string DescribeConfState(const ConfState& cs);

}  // namespace kvd::raft
