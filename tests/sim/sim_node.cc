#include "tests/sim/sim_node.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "raft/errors.h"

namespace kvd::sim {

SimNode::SimNode(raft::NodeId id, std::unique_ptr<raft::MemoryStorage> disk)
    : id_(id), disk_(std::move(disk)), synced_hard_state_(disk_->hard_state()) {}

absl::Status SimNode::Boot(raft::Config config) {
  ++incarnation_;
  inflight_.reset();
  sm_ = KvStateMachine();
  applied_ = 0;
  absl::StatusOr<raft::Snapshot> snap = disk_->GetSnapshot();
  if (!snap.ok()) return snap.status();
  if (!snap->IsEmpty()) {
    absl::StatusOr<KvStateMachine> sm = KvStateMachine::Restore(snap->data);
    if (!sm.ok()) return sm.status();
    sm_ = std::move(*sm);
    applied_ = snap->metadata.index;
    // THE READY CONTRACT (e): a node restarts from one log that starts just after its snapshot.
    // Entries kept behind the latest snapshot (for slow followers) are dropped at restart.
    if (snap->metadata.index >= disk_->FirstIndex() && snap->metadata.index <= disk_->LastIndex()) {
      if (absl::Status s = disk_->Compact(snap->metadata.index); !s.ok()) return s;
    }
  }
  conf_ = disk_->GetInitialState().conf_state;
  handed_out_ = applied_;
  handed_out_before_ready_ = applied_;
  config.id = id_;
  config.storage = disk_.get();
  config.applied = applied_;
  absl::StatusOr<std::unique_ptr<raft::RawNode>> raw = raft::RawNode::Create(config);
  if (!raw.ok()) return raw.status();
  raw_ = std::move(*raw);
  return absl::OkStatus();
}

size_t SimNode::InflightCutPoints() const {
  return inflight_.has_value() ? inflight_->entries.size() + 3 : 0;
}

void SimNode::Crash(size_t cut, bool power_loss) {
  if (power_loss) disk_->SetHardState(synced_hard_state_);
  if (inflight_.has_value()) {
    // A torn write: the first `cut` parts of step 2, in the contract's order, reached the disk.
    // What the disk refuses here it would have refused in PersistReady too; the crash hides it.
    raft::Ready& rd = *inflight_;
    size_t entries = rd.entries.size();
    if (cut >= 1 && !rd.snapshot.IsEmpty()) (void)disk_->ApplySnapshot(rd.snapshot);
    if (cut >= 2) {
      std::vector<raft::Entry> prefix(rd.entries.begin(),
                                      rd.entries.begin() + std::min(cut - 1, entries));
      if (!prefix.empty()) (void)disk_->Append(prefix);
    }
    if (cut >= entries + 2 && rd.hard_state.has_value()) disk_->SetHardState(*rd.hard_state);
    if (cut >= entries + 2 && rd.must_sync) synced_hard_state_ = disk_->hard_state();
  }
  inflight_.reset();
  raw_.reset();
  sm_ = KvStateMachine();
  applied_ = 0;
  conf_ = raft::ConfState();
}

const raft::Ready& SimNode::TakeReady() {
  inflight_ = raw_->GetReady();
  NoteHandedOut();
  return *inflight_;
}

void SimNode::SetInflightForTest(raft::Ready rd) {
  inflight_ = std::move(rd);
  NoteHandedOut();
}

void SimNode::NoteHandedOut() {
  handed_out_before_ready_ = handed_out_;
  if (!inflight_->snapshot.IsEmpty()) handed_out_ = inflight_->snapshot.metadata.index;
  if (!inflight_->committed_entries.empty()) {
    handed_out_ = inflight_->committed_entries.back().index;
  }
}

absl::Status SimNode::PersistReady() {
  raft::Ready& rd = *inflight_;
  if (!rd.snapshot.IsEmpty()) {
    if (absl::Status s = disk_->ApplySnapshot(rd.snapshot); !s.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("installing the Ready's snapshot at index ",
                                                        rd.snapshot.metadata.index, ": ",
                                                        s.message()));
    }
  }
  if (!rd.entries.empty()) {
    if (absl::Status s = disk_->Append(rd.entries); !s.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("appending the Ready's entries [", rd.entries.front().index, "..",
                       rd.entries.back().index, "]: ", s.message()));
    }
  }
  if (rd.hard_state.has_value()) disk_->SetHardState(*rd.hard_state);
  if (rd.must_sync) synced_hard_state_ = disk_->hard_state();
  return absl::OkStatus();
}

void SimNode::FinishReady() {
  inflight_.reset();
  raw_->Advance();
}

absl::Status SimNode::RestoreStateMachine(const raft::Snapshot& s) {
  absl::StatusOr<KvStateMachine> sm = KvStateMachine::Restore(s.data);
  if (!sm.ok()) return sm.status();
  sm_ = std::move(*sm);
  applied_ = s.metadata.index;
  conf_ = s.metadata.conf_state;
  return absl::OkStatus();
}

absl::Status SimNode::SnapshotAndCompact(raft::Index keep_entries, bool* made) {
  *made = false;
  absl::StatusOr<raft::Snapshot> current = disk_->GetSnapshot();
  if (!current.ok()) return current.status();
  if (applied_ <= current->metadata.index) return absl::OkStatus();
  absl::StatusOr<raft::Snapshot> snap = disk_->CreateSnapshot(applied_, conf_, sm_.Serialize());
  if (!snap.ok()) return snap.status();
  synced_hard_state_ = disk_->hard_state();
  *made = true;
  raft::Index compact_to = applied_ > keep_entries ? applied_ - keep_entries : 0;
  if (compact_to >= disk_->FirstIndex()) {
    if (absl::Status s = disk_->Compact(compact_to); !s.ok()) return s;
  }
  return absl::OkStatus();
}

LogSlot SimNode::TermAt(raft::Index i, raft::Term* term) const {
  if (inflight_.has_value()) {
    const raft::Ready& rd = *inflight_;
    if (!rd.entries.empty() && i >= rd.entries.front().index) {
      if (i > rd.entries.back().index) return LogSlot::kMissing;
      *term = rd.entries[i - rd.entries.front().index].term;
      return LogSlot::kPresent;
    }
    if (!rd.snapshot.IsEmpty()) {
      // The snapshot replaces the disk's log; only the Ready's entries follow it.
      const raft::SnapshotMetadata& m = rd.snapshot.metadata;
      if (i < m.index) return LogSlot::kCompacted;
      if (i == m.index) {
        *term = m.term;
        return LogSlot::kPresent;
      }
      return LogSlot::kMissing;
    }
  }
  absl::StatusOr<raft::Term> t = disk_->GetTerm(i);
  if (t.ok()) {
    *term = *t;
    return LogSlot::kPresent;
  }
  return raft::IsCompacted(t.status()) ? LogSlot::kCompacted : LogSlot::kMissing;
}

raft::Index SimNode::ObservedLastIndex() const {
  if (inflight_.has_value()) {
    if (!inflight_->entries.empty()) return inflight_->entries.back().index;
    if (!inflight_->snapshot.IsEmpty()) return inflight_->snapshot.metadata.index;
  }
  return disk_->LastIndex();
}

raft::Index SimNode::ObservedSnapshotIndex() const {
  if (inflight_.has_value() && !inflight_->snapshot.IsEmpty()) {
    return inflight_->snapshot.metadata.index;
  }
  return disk_->FirstIndex() - 1;
}

}  // namespace kvd::sim

namespace kvd::sim {

raft::Index SimNode::SnapshotIndex() const {
  absl::StatusOr<raft::Snapshot> s = disk_->GetSnapshot();
  return s.ok() ? s->metadata.index : 0;
}

}  // namespace kvd::sim
