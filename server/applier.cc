#include "server/applier.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/raft_codec.h"
#include "raft/confchange.h"
#include "server/errors.h"
#include "server/lessor.h"
#include "spdlog/spdlog.h"

namespace kvd::server {

absl::StatusOr<std::optional<raft::ConfState>> StoredConfState(const mvcc::Store& store) {
  absl::StatusOr<std::optional<std::string>> stored = store.GetMeta(kMetaConfState);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::optional<raft::ConfState>();
  raftpb::ConfState pb;
  if (!pb.ParseFromString(**stored)) {
    return absl::DataLossError("the store's Raft configuration record is unreadable");
  }
  return std::optional<raft::ConfState>(codec::FromProto(pb));
}

Applier::Applier(mvcc::Store* store, Options options, Hooks hooks, raft::ConfState conf,
                 serverpb::Membership membership)
    : store_(store),
      options_(options),
      hooks_(std::move(hooks)),
      conf_(std::move(conf)),
      last_compaction_index_(store->Applied().index),
      applied_index_(store->Applied().index),
      membership_(std::move(membership)) {}

Applier::~Applier() { Stop(); }

void Applier::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Applier::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Applier::Apply(CommittedBatch batch) {
  absl::MutexLock lock(&mu_);
  queue_.emplace_back(std::move(batch));
}

absl::Status Applier::RunOnApplyThread(absl::AnyInvocable<absl::Status()> fn) {
  absl::Status result;
  bool done = false;
  absl::MutexLock lock(&mu_);
  if (stopping_) return ErrStopped();
  queue_.emplace_back(Task{std::move(fn), &result, &done});
  mu_.Await(absl::Condition(&done));
  return result;
}

void Applier::ResetFromStore() {
  absl::StatusOr<std::optional<raft::ConfState>> conf = StoredConfState(*store_);
  if (!conf.ok()) Fatal("reading the Raft configuration of the installed snapshot", conf.status());
  if (conf->has_value()) conf_ = **conf;
  const uint64_t applied = store_->Applied().index;
  last_compaction_index_ = applied;
  absl::StatusOr<std::optional<std::string>> stored = store_->GetMeta(kMetaMembership);
  if (!stored.ok()) Fatal("reading the membership from the installed snapshot", stored.status());
  {
    absl::MutexLock lock(&mu_);
    applied_index_ = applied;
    if (stored->has_value() && !membership_.ParseFromString(**stored)) {
      Fatal("reading the membership from the installed snapshot",
            absl::DataLossError("unreadable membership record"));
    }
  }
  if (hooks_.membership) hooks_.membership(membership());
  if (hooks_.restored) hooks_.restored();
  if (hooks_.applied) hooks_.applied(applied);
}

uint64_t Applier::applied_index() const {
  absl::MutexLock lock(&mu_);
  return applied_index_;
}

serverpb::Membership Applier::membership() const {
  absl::MutexLock lock(&mu_);
  return membership_;
}

void Applier::Run() {
  while (true) {
    std::deque<Item> items;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Applier* a)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(a->mu_) { return a->stopping_ || !a->queue_.empty(); },
          this));
      if (queue_.empty()) return;  // stopping, and everything queued is done
      items.swap(queue_);
    }
    // Consecutive committed batches are applied together; a task runs between them, in order.
    std::vector<CommittedBatch> pending;
    for (Item& item : items) {
      if (auto* batch = std::get_if<CommittedBatch>(&item)) {
        pending.push_back(std::move(*batch));
        continue;
      }
      if (!pending.empty()) ApplyEntries(std::move(pending));
      pending.clear();
      Task& task = std::get<Task>(item);
      absl::Status st = task.fn();
      absl::MutexLock lock(&mu_);
      *task.result = std::move(st);
      *task.done = true;
    }
    if (!pending.empty()) ApplyEntries(std::move(pending));
  }
}

void Applier::ApplyEntries(std::vector<CommittedBatch> batches) {
  const uint64_t applied_before = store_->Applied().index;
  const absl::Time start = absl::Now();
  mvcc::BatchOptions batch_options;
  if (hooks_.lessor != nullptr) {
    batch_options.lease_exists = [lessor = hooks_.lessor](int64_t id) {
      return lessor->Exists(id);
    };
  } else {
    batch_options.lease_exists = [](int64_t) { return false; };
  }
  // Events are built as far as watchers need them: a delete of many keys reads no deleted value
  // without a watcher asking prev_kv.
  if (hooks_.events && hooks_.recording) {
    batch_options.record = hooks_.recording();
  } else {
    batch_options.record = mvcc::EventRecording{.events = false, .prev_kv = false};
  }
  const mvcc::EventRecording recorded = batch_options.record;
  mvcc::ApplyBatch batch = store_->BeginBatch(batch_options);
  std::vector<std::pair<uint64_t, ApplyResult>> results;
  const raft::Entry* last = nullptr;
  bool membership_changed = false;
  for (CommittedBatch& committed : batches) {
    size_t conf_index = 0;
    for (const raft::Entry& e : committed.entries) {
      const raft::ConfState* conf_after = nullptr;
      if (e.type == raft::EntryType::kConfChange)
        conf_after = &committed.conf_states.at(conf_index++);
      // Entries the store already holds (a replay after a restart, or behind an installed
      // snapshot) change nothing, membership included: the store's metadata has them.
      if (e.index <= applied_before) continue;
      const uint64_t expected = last != nullptr ? last->index + 1 : applied_before + 1;
      if (e.index != expected) {
        Fatal("applying committed entries",
              absl::InternalError(absl::StrCat("entry ", e.index, " follows ", expected - 1,
                                               ": the log handed out a gap")));
      }
      last = &e;
      if (conf_after != nullptr) {
        ApplyConfChange(e, *conf_after);
        raftpb::ConfState pb;
        codec::ToProto(conf_, &pb);
        batch.PutMeta(kMetaConfState, pb.SerializeAsString());
        membership_changed = true;
        continue;
      }
      if (e.data.empty()) {  // a new leader's no-op
        if (hooks_.leader_noop) hooks_.leader_noop(e.term);
        continue;
      }
      serverpb::Request req;
      if (!req.ParseFromString(e.data)) {
        Fatal(absl::StrCat("decoding the entry at index ", e.index),
              absl::DataLossError("not a kvd request"));
      }
      if (req.has_member_attributes()) membership_changed = true;
      ApplyResult result = ApplyRequest(batch, req);
      if (req.id() != 0) results.emplace_back(req.id(), std::move(result));
    }
  }
  if (last == nullptr) return;
  if (membership_changed) {
    std::string bytes;
    {
      absl::MutexLock lock(&mu_);
      bytes = membership_.SerializeAsString();
    }
    batch.PutMeta(kMetaMembership, bytes);
  }
  const absl::Time commit_start = absl::Now();
  if (absl::Status st = batch.Commit(last->index, last->term); !st.ok()) {
    Fatal(absl::StrCat("committing entries up to index ", last->index, " to the store"), st);
  }
  if (const absl::Time now = absl::Now(); now - start > absl::Milliseconds(500)) {
    spdlog::warn("slow apply: entries {}..{} took {} (store commit {})", applied_before + 1,
                 last->index, absl::FormatDuration(now - start),
                 absl::FormatDuration(now - commit_start));
  }
  const uint64_t applied = last->index;
  {
    absl::MutexLock lock(&mu_);
    applied_index_ = applied;
  }
  if (hooks_.events) hooks_.events(batch.TakeEvents(), recorded);
  for (auto& [id, result] : results) hooks_.waits->Trigger(id, std::move(result));
  if (membership_changed && hooks_.membership) hooks_.membership(membership());
  if (hooks_.applied) hooks_.applied(applied);
  MaybeCompactLog();
}

ApplyResult Applier::ApplyRequest(mvcc::ApplyBatch& batch, const serverpb::Request& req) {
  ApplyResult result;
  auto take = [&result](auto response) {
    if (!response.ok()) {
      result.status = response.status();
      return;
    }
    result.revision = response->header().revision();
    result.response =
        std::make_unique<std::remove_cvref_t<decltype(*response)>>(*std::move(response));
  };
  switch (req.op_case()) {
    case serverpb::Request::kPut:
      take(batch.Put(req.put()));
      break;
    case serverpb::Request::kDeleteRange:
      take(batch.DeleteRange(req.delete_range()));
      break;
    case serverpb::Request::kTxn:
      take(batch.Txn(req.txn()));
      break;
    case serverpb::Request::kCompaction:
      take(batch.Compact(req.compaction()));
      break;
    case serverpb::Request::kLeaseGrant:
      if (hooks_.lessor == nullptr) {
        result.status = ErrLeaseNotFound();
        break;
      }
      take(hooks_.lessor->Grant(batch, req.lease_grant(), SteadyNow()));
      break;
    case serverpb::Request::kLeaseRevoke:
      if (hooks_.lessor == nullptr) {
        result.status = ErrLeaseNotFound();
        break;
      }
      take(hooks_.lessor->Revoke(batch, req.lease_revoke().id()));
      break;
    case serverpb::Request::kLeaseCheckpoints:
      if (hooks_.lessor != nullptr) hooks_.lessor->Checkpoint(batch, req.lease_checkpoints());
      result.revision = batch.CurrentRevision();
      break;
    case serverpb::Request::kMemberAttributes: {
      const serverpb::MemberAttributes& attrs = req.member_attributes();
      absl::MutexLock lock(&mu_);
      for (serverpb::Member& m : *membership_.mutable_members()) {
        if (m.id() != attrs.member_id()) continue;
        m.set_name(attrs.name());
        m.mutable_client_urls()->CopyFrom(attrs.client_urls());
      }
      result.revision = batch.CurrentRevision();
      break;
    }
    default:
      result.status = absl::UnimplementedError(
          absl::StrCat("this member cannot apply request kind ", req.op_case()));
      spdlog::error("skipped a committed request of unknown kind {}",
                    static_cast<int>(req.op_case()));
  }
  return result;
}

void Applier::ApplyConfChange(const raft::Entry& entry, const raft::ConfState& after) {
  absl::StatusOr<raft::ConfChange> cc = raft::DecodeConfChange(entry.data);
  if (!cc.ok()) Fatal(absl::StrCat("decoding the conf change at index ", entry.index), cc.status());
  conf_ = after;
  // The membership follows what Raft made of the change (it refuses some, e.g. removing the last
  // voter): members not in Raft's configuration leave; the changed node's record is added or its
  // learner flag updated.
  auto in = [](const std::vector<raft::NodeId>& ids, uint64_t id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
  };
  absl::MutexLock lock(&mu_);
  auto* members = membership_.mutable_members();
  for (int i = members->size() - 1; i >= 0; --i) {
    const uint64_t id = members->Get(i).id();
    if (!in(after.voters, id) && !in(after.learners, id)) {
      members->DeleteSubrange(i, 1);
      membership_.add_removed(id);
    }
  }
  const bool voter = in(after.voters, cc->node_id);
  const bool learner = in(after.learners, cc->node_id);
  if (!voter && !learner) return;
  for (serverpb::Member& m : *members) {
    if (m.id() == cc->node_id) {
      m.set_is_learner(learner);
      return;
    }
  }
  serverpb::Member m;
  if (!cc->context.empty() && !m.ParseFromString(cc->context)) {
    spdlog::warn("conf change at index {} carries an unreadable member record", entry.index);
  }
  m.set_id(cc->node_id);
  m.set_is_learner(learner);
  *members->Add() = std::move(m);
}

void Applier::MaybeCompactLog() {
  const uint64_t applied = store_->Applied().index;
  if (applied - last_compaction_index_ < options_.snapshot_count) return;
  absl::StatusOr<mvcc::AppliedPosition> durable = store_->Flush();
  if (!durable.ok()) Fatal("flushing the store", durable.status());
  last_compaction_index_ = durable->index;
  if (hooks_.compact_log) hooks_.compact_log(durable->index, conf_);
}

void Applier::Fatal(const std::string& what, const absl::Status& why) {
  spdlog::critical("{} failed: {}; stopping (restart recovers from what is on disk)", what,
                   why.ToString());
  spdlog::shutdown();
  std::_Exit(EXIT_FAILURE);
}

}  // namespace kvd::server
