#include "raft/testing/test_node.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "raft/check.h"
#include "raft/confchange.h"

namespace kvd::raft::testing {
namespace {

// State machine image: for each applied item, "<decimal length>:<bytes>".
std::string EncodeImage(const std::vector<std::pair<Index, std::string>>& items, Index upto) {
  std::string out;
  for (const auto& [index, data] : items) {
    if (index > upto) break;
    absl::StrAppend(&out, data.size(), ":", data);
  }
  return out;
}

std::vector<std::string> DecodeImage(const std::string& image) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < image.size()) {
    const size_t colon = image.find(':', pos);
    KVD_CHECK(colon != std::string::npos, "bad state machine image");
    size_t len = 0;
    KVD_CHECK(absl::SimpleAtoi(image.substr(pos, colon - pos), &len), "bad image length");
    out.push_back(image.substr(colon + 1, len));
    pos = colon + 1 + len;
  }
  return out;
}

}  // namespace

TestNode::TestNode(Config config, std::unique_ptr<MemoryStorage> storage)
    : config_(std::move(config)), storage_(std::move(storage)) {
  absl::StatusOr<Snapshot> snap = storage_->GetSnapshot();
  if (snap.ok() && !snap->IsEmpty()) InstallSnapshot(*snap);
  Restart();
}

void TestNode::InstallSnapshot(const Snapshot& s) {
  applied_.clear();
  for (std::string& data : DecodeImage(s.data)) applied_.emplace_back(s.metadata.index, data);
  applied_index_ = s.metadata.index;
  conf_history_.clear();
  SetConfState(s.metadata.index, s.metadata.conf_state);
}

void TestNode::SetConfState(Index at, ConfState cs) {
  conf_state_ = cs;
  conf_history_.emplace_back(at, std::move(cs));
}

ConfState TestNode::ConfStateAt(Index i) const {
  ConfState cs;
  for (const auto& [at, c] : conf_history_) {
    if (at <= i) cs = c;
  }
  return cs;
}

void TestNode::Restart() {
  node_.reset();
  config_.storage = storage_.get();
  config_.applied = applied_index_;
  // The membership in force at applied_index_: the storage's, plus the changes after it.
  conf_history_.clear();
  SetConfState(storage_->FirstIndex() - 1, storage_->GetInitialState().conf_state);
  absl::StatusOr<RawNode*> created = [&]() -> absl::StatusOr<RawNode*> {
    absl::StatusOr<std::unique_ptr<RawNode>> n = RawNode::Create(config_);
    if (!n.ok()) return n.status();
    node_ = std::move(*n);
    return node_.get();
  }();
  KVD_CHECK(created.ok(), "cannot create node ", config_.id, ": ", created.status().ToString());
  const Index from = storage_->FirstIndex();
  if (applied_index_ >= from) {
    absl::StatusOr<std::vector<Entry>> ents =
        storage_->Entries(from, applied_index_ + 1, UINT64_MAX);
    KVD_CHECK(ents.ok(), "cannot replay entries: ", ents.status().ToString());
    for (const Entry& e : *ents) {
      if (e.type != EntryType::kConfChange) continue;
      absl::StatusOr<ConfChange> cc = DecodeConfChange(e.data);
      KVD_CHECK(cc.ok(), "bad conf change in log: ", cc.status().ToString());
      SetConfState(e.index, node_->ApplyConfChange(*cc));
    }
  }
}

Ready TestNode::HandleReady() {
  Ready rd = node_->GetReady();
  // Step 2: make durable (snapshot, entries, hard state).
  if (!rd.snapshot.IsEmpty()) {
    absl::Status s = storage_->ApplySnapshot(rd.snapshot);
    KVD_CHECK(s.ok(), "node ", id(), ": ", s.ToString());
    InstallSnapshot(rd.snapshot);
  }
  if (!rd.entries.empty()) {
    absl::Status s = storage_->Append(rd.entries);
    KVD_CHECK(s.ok(), "node ", id(), ": ", s.ToString());
  }
  if (rd.hard_state) storage_->SetHardState(*rd.hard_state);
  // Step 4: apply.
  for (const Entry& e : rd.committed_entries) {
    KVD_CHECK(e.index == applied_index_ + 1, "node ", id(), " applying ", e.index, " after ",
              applied_index_);
    if (e.type == EntryType::kConfChange) {
      absl::StatusOr<ConfChange> cc = DecodeConfChange(e.data);
      KVD_CHECK(cc.ok(), "bad conf change: ", cc.status().ToString());
      SetConfState(e.index, node_->ApplyConfChange(*cc));
    } else if (!e.data.empty()) {
      applied_.emplace_back(e.index, e.data);
    }
    applied_index_ = e.index;
  }
  read_states_.insert(read_states_.end(), rd.read_states.begin(), rd.read_states.end());
  // Step 5.
  node_->Advance();
  return rd;
}

std::string TestNode::SnapshotData(Index i) const { return EncodeImage(applied_, i); }

absl::Status TestNode::CompactTo(Index i) {
  if (i > applied_index_) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot compact to ", i, " beyond applied index ", applied_index_));
  }
  absl::StatusOr<Snapshot> snap = storage_->CreateSnapshot(i, ConfStateAt(i), SnapshotData(i));
  if (!snap.ok()) return snap.status();
  return storage_->Compact(i);
}

}  // namespace kvd::raft::testing
