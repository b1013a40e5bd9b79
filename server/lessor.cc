#include "server/lessor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/errors.h"

namespace kvd::server {
namespace {

constexpr char kNotPrimaryMessage[] = "lessor: not the primary lessor";

int64_t CeilSeconds(absl::Duration d) {
  return static_cast<int64_t>(std::ceil(absl::FDivDuration(d, absl::Seconds(1))));
}

}  // namespace

absl::Time SteadyNow() {
  return absl::FromUnixNanos(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count());
}

std::string LeaseMetaKey(int64_t id) {
  return absl::StrFormat("%s%016x", kLeaseMetaPrefix, static_cast<uint64_t>(id));
}

absl::Status ErrNotPrimary() { return absl::UnavailableError(kNotPrimaryMessage); }

bool IsNotPrimary(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable && s.message() == kNotPrimaryMessage;
}

Lessor::Lessor(LessorOptions options, LessorHooks hooks)
    : options_(options), hooks_(std::move(hooks)) {}

Lessor::~Lessor() { Stop(); }

void Lessor::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Lessor::Stop() {
  {
    absl::MutexLock lock(&run_mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Lessor::Run() {
  absl::MutexLock lock(&run_mu_);
  while (!stopping_) {
    run_mu_.Unlock();
    Tick(SteadyNow());
    run_mu_.Lock();
    run_mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.tick_interval);
  }
}

absl::Status Lessor::Recover(const mvcc::Store& store, absl::Time now) {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> records =
      store.ScanMeta(kLeaseMetaPrefix);
  if (!records.ok()) return records.status();
  absl::flat_hash_map<int64_t, Lease> loaded;
  for (const auto& [key, value] : *records) {
    serverpb::LeaseRecord record;
    if (!record.ParseFromString(value)) {
      return absl::DataLossError(absl::StrCat("unreadable lease record ", key));
    }
    Lease& l = loaded[record.id()];
    l.ttl = record.ttl();
    l.recorded_remaining = record.remaining_ttl();
  }
  absl::MutexLock lock(&mu_);
  leases_ = std::move(loaded);
  expiries_.Clear();
  checkpoints_.Clear();
  renewed_since_checkpoint_.clear();
  if (primary_) {
    for (auto& [id, lease] : leases_) Arm(id, lease, now, options_.promotion_grace);
  }
  return absl::OkStatus();
}

void Lessor::Persist(mvcc::ApplyBatch& batch, int64_t id, const Lease& lease) {
  serverpb::LeaseRecord record;
  record.set_id(id);
  record.set_ttl(lease.ttl);
  record.set_remaining_ttl(lease.recorded_remaining);
  batch.PutMeta(LeaseMetaKey(id), record.SerializeAsString());
}

absl::StatusOr<etcdserverpb::LeaseGrantResponse> Lessor::Grant(
    mvcc::ApplyBatch& batch, const etcdserverpb::LeaseGrantRequest& req, absl::Time now) {
  if (req.id() == 0) return ErrLeaseNotFound();
  if (req.ttl() > kMaxLeaseTtlSeconds) return ErrLeaseTTLTooLarge();
  Lease lease;
  lease.ttl = req.ttl();
  {
    absl::MutexLock lock(&mu_);
    if (leases_.contains(req.id())) return ErrLeaseExist();
    Lease& stored = leases_[req.id()] = lease;
    if (primary_) Arm(req.id(), stored, now, absl::ZeroDuration());
  }
  Persist(batch, req.id(), lease);
  etcdserverpb::LeaseGrantResponse resp;
  resp.mutable_header()->set_revision(batch.CurrentRevision());
  resp.set_id(req.id());
  resp.set_ttl(lease.ttl);
  return resp;
}

absl::StatusOr<etcdserverpb::LeaseRevokeResponse> Lessor::Revoke(mvcc::ApplyBatch& batch,
                                                                 int64_t id) {
  {
    absl::MutexLock lock(&mu_);
    if (!leases_.contains(id)) return ErrLeaseNotFound();
  }
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> deleted = batch.DeleteLeaseKeys(id);
  if (!deleted.ok()) return deleted.status();
  batch.DeleteMeta(LeaseMetaKey(id));
  {
    absl::MutexLock lock(&mu_);
    leases_.erase(id);
    expiries_.Remove(id);
    checkpoints_.Remove(id);
    renewed_since_checkpoint_.erase(id);
  }
  etcdserverpb::LeaseRevokeResponse resp;
  resp.mutable_header()->set_revision(batch.CurrentRevision());
  return resp;
}

void Lessor::Checkpoint(mvcc::ApplyBatch& batch, const serverpb::LeaseCheckpoints& checkpoints) {
  std::vector<std::pair<int64_t, Lease>> changed;
  {
    absl::MutexLock lock(&mu_);
    for (const serverpb::LeaseCheckpoint& cp : checkpoints.checkpoints()) {
      auto it = leases_.find(cp.id());
      if (it == leases_.end()) continue;
      it->second.recorded_remaining = cp.remaining_ttl();
      changed.emplace_back(cp.id(), it->second);
    }
  }
  for (const auto& [id, lease] : changed) Persist(batch, id, lease);
}

bool Lessor::Exists(int64_t id) const {
  absl::MutexLock lock(&mu_);
  return leases_.contains(id);
}

void Lessor::LeaderNoopApplied(raft::Term term, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (primary_ || leader_term_ == 0 || leader_term_ != term) return;
  primary_ = true;
  for (auto& [id, lease] : leases_) Arm(id, lease, now, options_.promotion_grace);
}

void Lessor::Arm(int64_t id, Lease& lease, absl::Time now, absl::Duration extra) {
  const int64_t remaining = lease.recorded_remaining > 0 ? lease.recorded_remaining : lease.ttl;
  lease.expiry = now + absl::Seconds(remaining) + extra;
  lease.promised_remaining = lease.recorded_remaining;
  expiries_.Schedule(id, lease.expiry);
  checkpoints_.Schedule(id, now + options_.checkpoint_interval);
}

void Lessor::LeadershipChanged(bool leader, raft::Term term) {
  const raft::Term leading = leader ? term : 0;
  absl::MutexLock lock(&mu_);
  if (leading == leader_term_) return;
  leader_term_ = leading;
  Demote();
}

void Lessor::Demote() {
  primary_ = false;
  for (auto& [id, lease] : leases_) lease.expiry = absl::InfiniteFuture();
  expiries_.Clear();
  checkpoints_.Clear();
  renewed_since_checkpoint_.clear();
}

absl::StatusOr<int64_t> Lessor::Renew(int64_t id, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (!primary_) return ErrNotPrimary();
  auto it = leases_.find(id);
  if (it == leases_.end()) return ErrLeaseNotFound();
  Lease& lease = it->second;
  // Past its expiry the revocation is on its way: renewing would not bring the lease back.
  if (lease.expiry <= now) return ErrLeaseNotFound();
  lease.expiry = now + absl::Seconds(lease.ttl);
  expiries_.Schedule(id, lease.expiry);
  if (lease.promised_remaining != 0) renewed_since_checkpoint_.insert(id);
  return lease.ttl;
}

absl::StatusOr<LeaseTtl> Lessor::TimeToLive(int64_t id, absl::Time now) const {
  absl::MutexLock lock(&mu_);
  if (!primary_) return ErrNotPrimary();
  auto it = leases_.find(id);
  if (it == leases_.end()) return ErrLeaseNotFound();
  LeaseTtl out;
  out.granted_seconds = it->second.ttl;
  out.remaining_seconds = std::max<int64_t>(0, absl::ToInt64Seconds(it->second.expiry - now));
  return out;
}

std::vector<int64_t> Lessor::Leases() const {
  std::vector<int64_t> ids;
  {
    absl::MutexLock lock(&mu_);
    ids.reserve(leases_.size());
    for (const auto& [id, lease] : leases_) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

bool Lessor::primary() const {
  absl::MutexLock lock(&mu_);
  return primary_;
}

size_t Lessor::size() const {
  absl::MutexLock lock(&mu_);
  return leases_.size();
}

std::optional<int64_t> Lessor::RecordedRemaining(int64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return std::nullopt;
  return it->second.recorded_remaining;
}

void Lessor::Tick(absl::Time now) {
  std::vector<int64_t> revoke;
  std::vector<serverpb::LeaseCheckpoints> entries;
  {
    absl::MutexLock lock(&mu_);
    if (!primary_) return;
    for (int64_t id : expiries_.PopDue(now, options_.max_revokes_per_tick)) {
      auto it = leases_.find(id);
      if (it == leases_.end()) continue;
      revoke.push_back(id);
      // Proposed again unless applied (which takes it out of the table) before then.
      expiries_.Schedule(id, now + options_.revoke_retry);
    }
    auto add = [&](int64_t id, int64_t remaining) {
      if (entries.empty() || static_cast<size_t>(entries.back().checkpoints_size()) >=
                                 options_.max_checkpoints_per_entry) {
        entries.emplace_back();
      }
      serverpb::LeaseCheckpoint* cp = entries.back().add_checkpoints();
      cp->set_id(id);
      cp->set_remaining_ttl(remaining);
    };
    // A renewed lease's record must say "full TTL" before a new leader could read it.
    for (int64_t id : renewed_since_checkpoint_) {
      auto it = leases_.find(id);
      if (it == leases_.end() || it->second.promised_remaining == 0) continue;
      it->second.promised_remaining = 0;
      add(id, 0);
    }
    renewed_since_checkpoint_.clear();
    for (int64_t id : checkpoints_.PopDue(now, SIZE_MAX)) {
      auto it = leases_.find(id);
      if (it == leases_.end()) continue;
      Lease& lease = it->second;
      checkpoints_.Schedule(id, now + options_.checkpoint_interval);
      if (lease.expiry <= now) continue;  // being revoked
      const int64_t remaining = CeilSeconds(lease.expiry - now);
      if (remaining >= lease.ttl) {
        // Renewed within the last second: the full TTL is what the record should say.
        if (lease.promised_remaining != 0) {
          lease.promised_remaining = 0;
          add(id, 0);
        }
        continue;
      }
      if (remaining == lease.promised_remaining) continue;
      lease.promised_remaining = remaining;
      add(id, remaining);
    }
  }
  for (int64_t id : revoke) hooks_.propose_revoke(id);
  for (serverpb::LeaseCheckpoints& e : entries) hooks_.propose_checkpoints(std::move(e));
}

}  // namespace kvd::server
