// Conversions between raft/'s plain types and their kvd.raftpb messages (proto/raftpb/raft.proto).
//
// ToProto never fails. FromProto validates what the wire or the disk may carry wrongly (an enum
// value this version does not know) and returns InvalidArgument instead of producing a value
// the core would misread. The rvalue overloads move payloads out of the message instead of
// copying them.
#pragma once

#include "absl/status/statusor.h"
#include "raft/types.h"
#include "raftpb/raft.pb.h"

namespace kvd::codec {

void ToProto(const raft::Entry& in, raftpb::Entry* out);
void ToProto(const raft::HardState& in, raftpb::HardState* out);
void ToProto(const raft::ConfState& in, raftpb::ConfState* out);
void ToProto(const raft::ConfChange& in, raftpb::ConfChange* out);
void ToProto(const raft::Snapshot& in, raftpb::Snapshot* out);
void ToProto(const raft::Message& in, raftpb::Message* out);

absl::StatusOr<raft::Entry> FromProto(raftpb::Entry&& in);
raft::HardState FromProto(const raftpb::HardState& in);
raft::ConfState FromProto(const raftpb::ConfState& in);
absl::StatusOr<raft::ConfChange> FromProto(raftpb::ConfChange&& in);
raft::Snapshot FromProto(raftpb::Snapshot&& in);
absl::StatusOr<raft::Message> FromProto(raftpb::Message&& in);

}  // namespace kvd::codec
