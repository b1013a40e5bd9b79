#include "proto/raft_codec.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace kvd::codec {
namespace {

raftpb::EntryType ToProto(raft::EntryType t) { return static_cast<raftpb::EntryType>(t); }

absl::StatusOr<raft::EntryType> FromProto(raftpb::EntryType t) {
  switch (t) {
    case raftpb::ENTRY_NORMAL:
      return raft::EntryType::kNormal;
    case raftpb::ENTRY_CONF_CHANGE:
      return raft::EntryType::kConfChange;
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown raft entry type ", t));
  }
}

}  // namespace

void ToProto(const raft::Entry& in, raftpb::Entry* out) {
  out->set_term(in.term);
  out->set_index(in.index);
  out->set_type(ToProto(in.type));
  out->set_data(in.data);
}

void ToProto(const raft::HardState& in, raftpb::HardState* out) {
  out->set_term(in.term);
  out->set_vote(in.vote);
  out->set_commit(in.commit);
}

void ToProto(const raft::ConfState& in, raftpb::ConfState* out) {
  out->mutable_voters()->Assign(in.voters.begin(), in.voters.end());
  out->mutable_learners()->Assign(in.learners.begin(), in.learners.end());
}

void ToProto(const raft::ConfChange& in, raftpb::ConfChange* out) {
  out->set_type(static_cast<raftpb::ConfChangeType>(in.type));
  out->set_node_id(in.node_id);
  out->set_context(in.context);
}

void ToProto(const raft::Snapshot& in, raftpb::Snapshot* out) {
  raftpb::SnapshotMetadata* md = out->mutable_metadata();
  ToProto(in.metadata.conf_state, md->mutable_conf_state());
  md->set_index(in.metadata.index);
  md->set_term(in.metadata.term);
  out->set_data(in.data);
}

void ToProto(const raft::Message& in, raftpb::Message* out) {
  out->set_type(static_cast<raftpb::MessageType>(in.type));
  out->set_to(in.to);
  out->set_from(in.from);
  out->set_term(in.term);
  out->set_log_term(in.log_term);
  out->set_index(in.index);
  out->mutable_entries()->Reserve(static_cast<int>(in.entries.size()));
  for (const raft::Entry& e : in.entries) ToProto(e, out->add_entries());
  out->set_commit(in.commit);
  if (!in.snapshot.IsEmpty()) ToProto(in.snapshot, out->mutable_snapshot());
  out->set_reject(in.reject);
  out->set_reject_hint(in.reject_hint);
  out->set_context(in.context);
}

absl::StatusOr<raft::Entry> FromProto(raftpb::Entry&& in) {
  absl::StatusOr<raft::EntryType> type = FromProto(in.type());
  if (!type.ok()) return type.status();
  return raft::Entry{
      .term = in.term(), .index = in.index(), .type = *type, .data = std::move(*in.mutable_data())};
}

raft::HardState FromProto(const raftpb::HardState& in) {
  return raft::HardState{.term = in.term(), .vote = in.vote(), .commit = in.commit()};
}

raft::ConfState FromProto(const raftpb::ConfState& in) {
  return raft::ConfState{.voters = {in.voters().begin(), in.voters().end()},
                         .learners = {in.learners().begin(), in.learners().end()}};
}

absl::StatusOr<raft::ConfChange> FromProto(raftpb::ConfChange&& in) {
  switch (in.type()) {
    case raftpb::CONF_CHANGE_ADD_NODE:
    case raftpb::CONF_CHANGE_REMOVE_NODE:
    case raftpb::CONF_CHANGE_ADD_LEARNER_NODE:
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown conf change type ", in.type()));
  }
  return raft::ConfChange{.type = static_cast<raft::ConfChangeType>(in.type()),
                          .node_id = in.node_id(),
                          .context = std::move(*in.mutable_context())};
}

raft::Snapshot FromProto(raftpb::Snapshot&& in) {
  const raftpb::SnapshotMetadata& md = in.metadata();
  return raft::Snapshot{.metadata = {.conf_state = FromProto(md.conf_state()),
                                     .index = md.index(),
                                     .term = md.term()},
                        .data = std::move(*in.mutable_data())};
}

absl::StatusOr<raft::Message> FromProto(raftpb::Message&& in) {
  if (in.type() < 0 || in.type() >= raft::kMessageTypeCount) {
    return absl::InvalidArgumentError(absl::StrCat("unknown raft message type ", in.type()));
  }
  // Fields are assigned one by one: GCC 12 at -O3 reports a false "may be used
  // uninitialized" on the designated-initializer form.
  raft::Message out;
  out.type = static_cast<raft::MessageType>(in.type());
  out.to = in.to();
  out.from = in.from();
  out.term = in.term();
  out.log_term = in.log_term();
  out.index = in.index();
  out.commit = in.commit();
  out.reject = in.reject();
  out.reject_hint = in.reject_hint();
  out.context = std::move(*in.mutable_context());
  out.entries.reserve(in.entries_size());
  for (raftpb::Entry& e : *in.mutable_entries()) {
    absl::StatusOr<raft::Entry> entry = FromProto(std::move(e));
    if (!entry.ok()) return entry.status();
    out.entries.push_back(*std::move(entry));
  }
  if (in.has_snapshot()) out.snapshot = FromProto(std::move(*in.mutable_snapshot()));
  return out;
}

}  // namespace kvd::codec
