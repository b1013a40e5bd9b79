// LinearizableReads: makes linearizable reads wait for a ReadIndex round, many reads per round.
//
// A read calls Await(). Reads that arrive while no round is in flight start one: the coordinator
// asks Raft for a read index (ReadIndex with a fresh context); reads that arrive while a round is
// in flight join the next round, which starts as soon as the current one is answered. When Raft
// answers a round with index i, each of its reads becomes ready once the applied index reaches i;
// the read then runs against the store and sees every write acknowledged before it was issued.
//
// A round unanswered after `retry_interval` is asked again with a new context (the request or
// its answer may have been lost, e.g. across a leader change). A read whose deadline passes fails
// with ErrTimeout, or with ErrNoLeader when no leader was known at that moment.
//
// Thread-safety: every method may be called from any thread. Callbacks run without locks held,
// on the coordinator's thread or the thread that reported progress; they must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "raft/rawnode.h"

namespace kvd::server {

class LinearizableReads {
 public:
  using Ready = absl::AnyInvocable<void(absl::Status)>;

  struct Hooks {
    // Asks Raft for a read index with this context (the raft loop's ReadIndex).
    std::function<void(std::string context)> request_read_index;
    // Whether a leader is known now.
    std::function<bool()> leader_known;
  };

  LinearizableReads(Hooks hooks, absl::Duration retry_interval);
  ~LinearizableReads();  // fails waiting reads with ErrStopped
  LinearizableReads(const LinearizableReads&) = delete;
  LinearizableReads& operator=(const LinearizableReads&) = delete;

  // Calls ready(OkStatus()) once a read issued now may be served, or ready(error) by deadline.
  void Await(absl::Time deadline, Ready ready);

  // Raft answered a ReadIndex request (from Ready::read_states).
  void OnReadState(const raft::ReadState& state);
  // The state machine has applied everything up to index.
  void OnApplied(uint64_t index);

 private:
  struct Waiter {
    absl::Time deadline;
    Ready ready;
  };
  void Loop();
  void CompleteApplied(std::vector<Ready>* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Hooks hooks_;
  const absl::Duration retry_interval_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_context_ ABSL_GUARDED_BY(mu_) = 1;
  // Reads waiting for the next round.
  std::vector<Waiter> pending_ ABSL_GUARDED_BY(mu_);
  // The round in flight: its reads and every context it was requested with.
  std::vector<Waiter> in_flight_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> in_flight_contexts_ ABSL_GUARDED_BY(mu_);
  absl::Time in_flight_asked_ ABSL_GUARDED_BY(mu_);
  // Answered reads, waiting for the applied index to reach their read index.
  std::multimap<uint64_t, Waiter> answered_ ABSL_GUARDED_BY(mu_);
  std::thread loop_;
};

}  // namespace kvd::server
