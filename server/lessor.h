// Lessor: the leases of this member's state machine, and — while this member leads — when they
// expire.
//
// State machine side (every member, apply thread). Grant, Revoke and Checkpoint apply the
// committed lease requests to the lease table and write each changed lease, as a
// serverpb::LeaseRecord under the metadata key LeaseMetaKey(id), into the same ApplyBatch as the
// rest of the entry, so the table is exactly as durable as the store and travels inside
// snapshots. Revoke deletes every key attached to the lease in one revision. Recover reloads the
// table from the store (start-up, after installing a snapshot).
//
// Leader side (the "primary"). Expiry times exist only on the primary: a member becomes primary
// when, as leader of term T, it applies the empty entry a leader appends at the start of T
// (LeaderNoopApplied), so it has applied every lease request of earlier terms; each lease then
// expires after its remaining TTL — the last checkpointed one, or its full TTL when none —
// plus `promotion_grace` (one election timeout), so a change of leader never expires a lease
// early. Renew (a keep-alive) moves the expiry to now + TTL in memory only: a keep-alive is
// never a Raft proposal. Tick, called periodically, proposes through hooks:
//   - a LeaseRevoke for each lease past its expiry (again after `revoke_retry` if the
//     revocation was not applied by then);
//   - LeaseCheckpoints (at most `max_checkpoints_per_entry` per entry): every lease's remaining
//     TTL (rounded up to seconds) once per `checkpoint_interval`, so a new leader resumes from
//     it instead of the full TTL, overestimating the remaining time by at most the interval;
//     and, for a lease renewed since its last checkpoint, a checkpoint of 0 ("full TTL"), so a
//     new leader never expires a renewed lease early. A lease is thus checkpointed at most
//     twice per interval, however many keep-alives it gets.
// A member that stops leading (LeadershipChanged) stops expiring and checkpointing at once.
//
// Times are monotonic (SteadyNow()); the methods that need one take it as an argument so tests
// drive time.
//
// Thread-safety: the apply-thread methods are called by the apply thread only;
// LeadershipChanged by the Raft loop's thread; every other method from any thread. Hooks are
// called on the thread that runs Tick, without the Lessor's lock held.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "raft/types.h"
#include "server/lease_queue.h"
#include "serverpb/request.pb.h"
#include "storage/mvcc/apply_batch.h"
#include "storage/mvcc/store.h"

namespace kvd::server {

// A monotonic clock reading as an absl::Time (only differences are meaningful).
absl::Time SteadyNow();

// etcd's largest lease TTL, in seconds.
inline constexpr int64_t kMaxLeaseTtlSeconds = 9000000000;

// The metadata key of a lease's record: "lease/" and the ID's 64 bits as 16 lower-case hex digits.
std::string LeaseMetaKey(int64_t id);
inline constexpr char kLeaseMetaPrefix[] = "lease/";

// Internal: the Lessor cannot renew or time leases now (not the leader, or not yet ready as
// leader). Never sent to clients.
absl::Status ErrNotPrimary();
bool IsNotPrimary(const absl::Status& s);

struct LessorOptions {
  // etcd's minimum: ceil(1.5 * election timeout) in seconds. The lease service raises smaller
  // TTLs to it before proposing a grant.
  int64_t min_ttl_seconds = 2;
  absl::Duration checkpoint_interval = absl::Seconds(5);
  // Added to every lease's remaining time when this member becomes primary.
  absl::Duration promotion_grace = absl::Seconds(1);
  // An expired lease whose revocation was not applied this long after it was proposed is
  // proposed again.
  absl::Duration revoke_retry = absl::Seconds(3);
  size_t max_revokes_per_tick = 500;
  size_t max_checkpoints_per_entry = 1000;
  // How often the background thread (Start) runs Tick.
  absl::Duration tick_interval = absl::Milliseconds(50);
};

struct LessorHooks {
  // Propose a LeaseRevoke of id through Raft (no one waits for the answer).
  std::function<void(int64_t id)> propose_revoke;
  // Propose these checkpoints through Raft as one entry.
  std::function<void(serverpb::LeaseCheckpoints)> propose_checkpoints;
};

// What LeaseTimeToLive reports for one lease.
struct LeaseTtl {
  int64_t remaining_seconds = 0;  // truncated, never negative
  int64_t granted_seconds = 0;
};

class Lessor {
 public:
  Lessor(LessorOptions options, LessorHooks hooks);
  ~Lessor();  // Stop()s
  Lessor(const Lessor&) = delete;
  Lessor& operator=(const Lessor&) = delete;

  const LessorOptions& options() const { return options_; }

  // Starts / stops the thread that runs Tick(SteadyNow()) every tick_interval.
  void Start();
  void Stop();

  // ---- Apply thread.

  // Replaces the lease table with the records in `store` (no batch open). Errors: DataLoss for
  // an unreadable record, or the store's read error.
  absl::Status Recover(const mvcc::Store& store, absl::Time now);

  // Applies a committed grant. Errors (nothing changes): LeaseNotFound for ID 0,
  // LeaseTTLTooLarge, LeaseExist. The TTL is taken as proposed (the proposer applied the
  // minimum), so every member records the same.
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> Grant(mvcc::ApplyBatch& batch,
                                                         const etcdserverpb::LeaseGrantRequest& req,
                                                         absl::Time now);
  // Applies a committed revocation: deletes the lease's keys (one revision) and its record.
  // Errors: LeaseNotFound.
  absl::StatusOr<etcdserverpb::LeaseRevokeResponse> Revoke(mvcc::ApplyBatch& batch, int64_t id);
  // Applies committed checkpoints; leases that no longer exist are skipped.
  void Checkpoint(mvcc::ApplyBatch& batch, const serverpb::LeaseCheckpoints& checkpoints);
  // Whether lease id exists as of what has been applied (the apply-time check of puts).
  bool Exists(int64_t id) const;
  // The empty entry of `term` was applied: if this member leads in `term` (LeadershipChanged),
  // it becomes primary.
  void LeaderNoopApplied(raft::Term term, absl::Time now);

  // ---- Raft loop thread.

  // This member leads in `term` (leader) or does not lead (anything else). Stepping down or a
  // new term ends being primary at once. Cheap when nothing changed.
  void LeadershipChanged(bool leader, raft::Term term);

  // ---- Any thread.

  // A keep-alive: the lease's expiry becomes now + TTL; returns the TTL. Errors: NotPrimary;
  // LeaseNotFound (no such lease, or already expired and being revoked).
  absl::StatusOr<int64_t> Renew(int64_t id, absl::Time now);
  // Errors: NotPrimary, LeaseNotFound.
  absl::StatusOr<LeaseTtl> TimeToLive(int64_t id, absl::Time now) const;
  // Every lease's ID, ascending.
  std::vector<int64_t> Leases() const;
  bool primary() const;
  size_t size() const;
  // The remaining TTL the state machine recorded for id (0: full TTL), if it exists. For tests.
  std::optional<int64_t> RecordedRemaining(int64_t id) const;

  // Leader duties at `now`: proposes revocations of expired leases and due checkpoints.
  void Tick(absl::Time now);

 private:
  struct Lease {
    int64_t ttl = 0;
    int64_t recorded_remaining = 0;  // as applied
    // Primary only: when it expires, and the remaining TTL the log will say once everything
    // this member proposed is applied.
    absl::Time expiry = absl::InfiniteFuture();
    int64_t promised_remaining = 0;
  };

  void Persist(mvcc::ApplyBatch& batch, int64_t id, const Lease& lease);
  // Primary: schedules lease's expiry and next checkpoint as promotion does.
  void Arm(int64_t id, Lease& lease, absl::Time now, absl::Duration extra)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Demote() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run();

  const LessorOptions options_;
  const LessorHooks hooks_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<int64_t, Lease> leases_ ABSL_GUARDED_BY(mu_);
  raft::Term leader_term_ ABSL_GUARDED_BY(mu_) = 0;  // 0: not leading
  bool primary_ ABSL_GUARDED_BY(mu_) = false;
  LeaseQueue expiries_ ABSL_GUARDED_BY(mu_);
  LeaseQueue checkpoints_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<int64_t> renewed_since_checkpoint_ ABSL_GUARDED_BY(mu_);

  absl::Mutex run_mu_;
  bool stopping_ ABSL_GUARDED_BY(run_mu_) = false;
  std::thread thread_;
};

}  // namespace kvd::server
