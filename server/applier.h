// Applier: the apply thread. It applies committed Raft entries to the MVCC store and answers the
// requests waiting for them.
//
// Committed batches queue up while the thread works; it takes all of them at once and applies
// them in one MVCC ApplyBatch (one RocksDB WriteBatch, with the Raft index and term of the last
// entry), then completes the waiters of the requests this member proposed, publishes the
// revisions' events, and reports the new applied index. Entries at or below the store's applied
// index are skipped, so replaying the log after a restart, or after installing a snapshot newer
// than the one Raft announced, applies nothing twice.
//
// Every snapshot_count applied entries it makes the store durable (Flush) and tells the Raft
// loop it may record a snapshot there and compact the log behind it.
//
// Other work that must not interleave with applying (installing a received snapshot, taking a
// snapshot image to send) runs on the same thread through RunOnApplyThread.
//
// Thread-safety: public methods may be called from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "raft/types.h"
#include "server/raft_loop.h"
#include "server/wait.h"
#include "serverpb/request.pb.h"
#include "storage/mvcc/store.h"

namespace kvd::server {

class Lessor;

// Metadata keys the server keeps in the store, written in the same batch as the entries that
// change them, so they always describe the store's applied index.
inline constexpr char kMetaMembership[] = "membership";  // serverpb::Membership
inline constexpr char kMetaConfState[] = "conf_state";   // raftpb::ConfState: Raft's membership

// The Raft membership the store's metadata records, or nullopt if it records none yet.
absl::StatusOr<std::optional<raft::ConfState>> StoredConfState(const mvcc::Store& store);

class Applier {
 public:
  struct Options {
    uint64_t snapshot_count = 100000;
  };
  struct Hooks {
    WaitRegistry* waits = nullptr;
    // The store is durable up to index with membership conf: the log may be compacted there.
    std::function<void(raft::Index, raft::ConfState)> compact_log;
    // The applied index moved.
    std::function<void(uint64_t applied)> applied;
    // What the next batch records of its events (for watchers); none: nothing is recorded.
    std::function<mvcc::EventRecording()> recording;
    // The revisions made by one applied batch, in order, with the events `recording` asked for.
    std::function<void(std::vector<mvcc::RevisionEvents>, mvcc::EventRecording)> events;
    // The membership changed.
    std::function<void(const serverpb::Membership&)> membership;
    // Applies lease requests and answers the apply-time lease check of puts (none: no lease
    // exists, lease requests fail).
    Lessor* lessor = nullptr;
    // A leader's empty entry of `term` was applied.
    std::function<void(raft::Term term)> leader_noop;
    // ResetFromStore replaced the state machine's state.
    std::function<void()> restored;
  };

  // conf and membership are those in force at the store's applied index.
  Applier(mvcc::Store* store, Options options, Hooks hooks, raft::ConfState conf,
          serverpb::Membership membership);
  ~Applier();  // Stop()s

  void Start();
  // Finishes what is queued, then stops.
  void Stop();

  void Apply(CommittedBatch batch);
  // Runs fn on the apply thread after everything queued before it; returns its result.
  absl::Status RunOnApplyThread(absl::AnyInvocable<absl::Status()> fn);

  // After the store's state was replaced by a snapshot (apply thread only, from a task run by
  // RunOnApplyThread): reloads the membership and Raft configuration from the store.
  void ResetFromStore();

  uint64_t applied_index() const;
  serverpb::Membership membership() const;

 private:
  struct Task {
    absl::AnyInvocable<absl::Status()> fn;
    absl::Status* result;
    bool* done;
  };
  using Item = std::variant<CommittedBatch, Task>;

  void Run();
  void ApplyEntries(std::vector<CommittedBatch> batches);
  ApplyResult ApplyRequest(mvcc::ApplyBatch& batch, const serverpb::Request& req);
  void ApplyConfChange(const raft::Entry& entry, const raft::ConfState& after);
  void MaybeCompactLog();
  [[noreturn]] void Fatal(const std::string& what, const absl::Status& why);

  mvcc::Store* const store_;
  const Options options_;
  const Hooks hooks_;
  raft::ConfState conf_;                // apply thread
  uint64_t last_compaction_index_ = 0;  // apply thread

  mutable absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t applied_index_ ABSL_GUARDED_BY(mu_) = 0;
  serverpb::Membership membership_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace kvd::server
