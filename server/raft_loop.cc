#include "server/raft_loop.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "raft/confchange.h"
#include "raft/errors.h"
#include "spdlog/spdlog.h"

namespace kvd::server {

absl::StatusOr<std::unique_ptr<RaftLoop>> RaftLoop::Create(
    Options options, std::unique_ptr<raft::MemoryStorage> storage, std::unique_ptr<wal::Wal> wal,
    Hooks hooks) {
  std::unique_ptr<RaftLoop> loop(
      new RaftLoop(std::move(options), std::move(storage), std::move(wal), std::move(hooks)));
  raft::Config config = loop->options_.raft;
  config.storage = loop->storage_.get();
  const std::string name = loop->options_.member_name;
  config.log = [name](std::string_view line) { spdlog::info("raft: {}", line); };
  absl::StatusOr<std::unique_ptr<raft::RawNode>> node = raft::RawNode::Create(config);
  if (!node.ok()) return node.status();
  loop->node_ = *std::move(node);
  {
    absl::MutexLock lock(&loop->mu_);
    loop->status_ = loop->node_->GetStatus();
  }
  return loop;
}

RaftLoop::RaftLoop(Options options, std::unique_ptr<raft::MemoryStorage> storage,
                   std::unique_ptr<wal::Wal> wal, Hooks hooks)
    : options_(std::move(options)),
      hooks_(std::move(hooks)),
      storage_(std::move(storage)),
      wal_(std::move(wal)) {}

RaftLoop::~RaftLoop() { Stop(); }

void RaftLoop::Start() {
  thread_ = std::thread([this] { Run(); });
}

void RaftLoop::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (wal_) {
    if (absl::Status st = wal_->Close(); !st.ok()) {
      spdlog::error("closing the WAL failed: {}", st.ToString());
    }
  }
}

void RaftLoop::Propose(uint64_t request_id, std::string data) {
  absl::MutexLock lock(&mu_);
  inbox_.proposals.emplace_back(request_id, std::move(data));
}

void RaftLoop::ProposeConfChange(uint64_t request_id, raft::ConfChange cc) {
  absl::MutexLock lock(&mu_);
  inbox_.conf_changes.emplace_back(request_id, std::move(cc));
}

void RaftLoop::Step(raft::Message m) {
  absl::MutexLock lock(&mu_);
  inbox_.messages.push_back(std::move(m));
}

void RaftLoop::ReadIndex(std::string context) {
  absl::MutexLock lock(&mu_);
  inbox_.read_requests.push_back(std::move(context));
}

void RaftLoop::TransferLeader(raft::NodeId transferee) {
  absl::MutexLock lock(&mu_);
  inbox_.transfers.push_back(transferee);
}

void RaftLoop::ReportUnreachable(raft::NodeId id) {
  absl::MutexLock lock(&mu_);
  inbox_.unreachable.push_back(id);
}

void RaftLoop::ReportSnapshot(raft::NodeId id, bool failed) {
  absl::MutexLock lock(&mu_);
  inbox_.snapshot_reports.emplace_back(id, failed);
}

void RaftLoop::CompactLog(raft::Index index, raft::ConfState conf) {
  absl::MutexLock lock(&mu_);
  inbox_.compactions.emplace_back(index, std::move(conf));
}

void RaftLoop::Campaign() {
  absl::MutexLock lock(&mu_);
  inbox_.campaign = true;
}

raft::Status RaftLoop::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

void RaftLoop::Run() {
  absl::Time next_tick = absl::Now() + options_.tick_interval;
  while (true) {
    Inbox inbox;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithDeadline(absl::Condition(
                                +[](RaftLoop* l) ABSL_EXCLUSIVE_LOCKS_REQUIRED(l->mu_) {
                                  return l->stopping_ || !l->inbox_.empty();
                                },
                                this),
                            next_tick);
      if (stopping_) return;
      std::swap(inbox, inbox_);
    }
    Process(std::move(inbox));
    // Ticks missed while the loop was busy are dropped, not replayed in a burst: a burst would
    // make a slow disk look like silence from the leader.
    if (const absl::Time now = absl::Now(); now >= next_tick) {
      node_->Tick();
      next_tick = now + options_.tick_interval;
    }
    while (node_->HasReady()) HandleReady();
    absl::MutexLock lock(&mu_);
    status_ = node_->GetStatus();
  }
}

void RaftLoop::Process(Inbox inbox) {
  for (raft::Message& m : inbox.messages) {
    if (absl::Status st = node_->Step(std::move(m)); !st.ok()) {
      spdlog::debug("raft: step refused: {}", st.ToString());
    }
  }
  for (auto& [id, data] : inbox.proposals) {
    if (absl::Status st = node_->Propose(std::move(data)); !st.ok()) {
      hooks_.proposal_dropped(id, st);
    }
  }
  for (auto& [id, cc] : inbox.conf_changes) {
    if (absl::Status st = node_->ProposeConfChange(cc); !st.ok()) {
      hooks_.proposal_dropped(id, st);
    }
  }
  for (std::string& ctx : inbox.read_requests) node_->ReadIndex(std::move(ctx));
  for (raft::NodeId id : inbox.transfers) node_->TransferLeader(id);
  for (raft::NodeId id : inbox.unreachable) node_->ReportUnreachable(id);
  for (auto [id, failed] : inbox.snapshot_reports) node_->ReportSnapshot(id, failed);
  for (auto& [index, conf] : inbox.compactions) Compact(index, conf);
  if (inbox.campaign) node_->Campaign();
}

void RaftLoop::HandleReady() {
  raft::Ready rd = node_->GetReady();
  if (rd.hard_state) term_ = rd.hard_state->term;
  if (rd.soft_state) {
    if (rd.soft_state->leader != soft_state_.leader) {
      if (rd.soft_state->leader == raft::kNoNode) {
        spdlog::warn("lost the leader (term {})", term_);
      } else {
        spdlog::info("leader is now {:x} (term {}){}", rd.soft_state->leader, term_,
                     rd.soft_state->leader == options_.raft.id ? ": this member" : "");
      }
    }
    soft_state_ = *rd.soft_state;
  }
  if (rd.soft_state || rd.hard_state) hooks_.leadership(soft_state_, term_);

  // 1. The leader's appends and heartbeats leave while it writes its own log.
  if (!rd.messages.empty()) hooks_.send(std::move(rd.messages));

  // 2. Durability. A snapshot from the leader is recorded in the WAL before the store installs
  // its image (already durable in snap/): after a crash in between, the next start finds the
  // WAL's snapshot ahead of the store and installs the image then (server/bootstrap.cc).
  wal::WalBatch batch{.snapshot = rd.snapshot.IsEmpty() ? nullptr : &rd.snapshot.metadata,
                      .entries = rd.entries,
                      .hard_state = rd.hard_state ? &*rd.hard_state : nullptr,
                      .sync = rd.must_sync || !rd.snapshot.IsEmpty()};
  const absl::Time write_start = absl::Now();
  if (absl::Status st = wal_->Save(batch); !st.ok()) Fatal("writing the WAL", st);
  if (const absl::Duration took = absl::Now() - write_start; took > absl::Milliseconds(100)) {
    spdlog::warn("slow fdatasync: writing {} entries to the WAL took {}", rd.entries.size(),
                 absl::FormatDuration(took));
  }
  if (!rd.snapshot.IsEmpty()) {
    spdlog::info("installing snapshot at index {} (term {})", rd.snapshot.metadata.index,
                 rd.snapshot.metadata.term);
    if (absl::Status st = hooks_.install_snapshot(rd.snapshot); !st.ok()) {
      Fatal("installing a snapshot", st);
    }
    if (absl::Status st = storage_->ApplySnapshot(rd.snapshot); !st.ok()) {
      Fatal("installing a snapshot in the log", st);
    }
  }
  if (!rd.entries.empty()) {
    if (absl::Status st = storage_->Append(rd.entries); !st.ok()) {
      Fatal("appending to the in-memory log", st);
    }
  }
  if (rd.hard_state) storage_->SetHardState(*rd.hard_state);

  // 3. Answers that vouch for what is now durable.
  if (!rd.messages_after_persist.empty()) hooks_.send(std::move(rd.messages_after_persist));

  // 4. Apply (asynchronously) and serve reads.
  for (const raft::ReadState& rs : rd.read_states) hooks_.read_state(rs);
  if (!rd.committed_entries.empty()) {
    CommittedBatch committed;
    for (const raft::Entry& e : rd.committed_entries) {
      if (e.type != raft::EntryType::kConfChange) continue;
      absl::StatusOr<raft::ConfChange> cc = raft::DecodeConfChange(e.data);
      if (!cc.ok()) Fatal(absl::StrCat("decoding the conf change at index ", e.index), cc.status());
      raft::ConfState cs = node_->ApplyConfChange(*cc);
      spdlog::info("membership changed at index {}: {} -> {}", e.index,
                   raft::DescribeConfChange(*cc), raft::DescribeConfState(cs));
      hooks_.conf_changed(*cc, cs);
      committed.conf_states.push_back(std::move(cs));
    }
    committed.entries = std::move(rd.committed_entries);
    hooks_.apply(std::move(committed));
  }

  // 5.
  node_->Advance();
}

void RaftLoop::Compact(raft::Index index, const raft::ConfState& conf) {
  // Record a snapshot at index: the state machine is durable up to it, so the log below it is
  // no longer needed to rebuild this member's state.
  if (index > wal_->snapshot().index) {
    absl::StatusOr<raft::Term> term = storage_->GetTerm(index);
    if (!term.ok()) return;  // not in this member's log (yet, or any more)
    const raft::SnapshotMetadata md{.conf_state = conf, .index = index, .term = *term};
    if (absl::Status st = wal_->SaveSnapshot(md); !st.ok()) Fatal("recording a snapshot", st);
    if (absl::StatusOr<raft::Snapshot> snap = storage_->CreateSnapshot(index, conf, "");
        !snap.ok()) {
      spdlog::warn("snapshot at index {} not made: {}", index, snap.status().ToString());
      return;
    }
    spdlog::info("snapshot at index {} (term {})", index, *term);
  }
  // Keep catch_up_entries behind the snapshot for followers that are only a little behind.
  const raft::Index snapshot_index = wal_->snapshot().index;
  if (snapshot_index <= options_.catch_up_entries) return;
  const raft::Index compact_to = snapshot_index - options_.catch_up_entries;
  if (compact_to < storage_->FirstIndex()) return;
  if (absl::Status st = storage_->Compact(compact_to); !st.ok()) {
    spdlog::warn("log compaction to {} failed: {}", compact_to, st.ToString());
    return;
  }
  if (absl::Status st = wal_->ReleaseTo(compact_to); !st.ok()) Fatal("releasing WAL segments", st);
  spdlog::info("log compacted up to index {}", compact_to);
}

void RaftLoop::Fatal(const std::string& what, const absl::Status& why) {
  spdlog::critical("{} failed: {}; stopping (restart recovers from what is on disk)", what,
                   why.ToString());
  spdlog::shutdown();
  std::_Exit(EXIT_FAILURE);
}

}  // namespace kvd::server
