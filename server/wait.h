// WaitRegistry: requests waiting for their Raft entry to be applied.
//
// A request registers its ID with a deadline and a completion before its entry is proposed.
// Exactly one of these then completes it, exactly once: Trigger() from the apply path with the
// result, Fail() (e.g. the proposal was dropped), or the deadline passing (ErrTimeout). A
// completion runs on the thread that completes it, without any lock of the registry held; it
// must not block.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"

namespace kvd::server {

// What applying one request produced.
struct ApplyResult {
  absl::Status status;
  // The response message of the request's kind (PutResponse, TxnResponse, ...), header not
  // yet filled; null when status is not OK.
  std::unique_ptr<google::protobuf::Message> response;
  // The store's revision after the request was applied.
  int64_t revision = 0;
};

using Completion = absl::AnyInvocable<void(ApplyResult)>;

class WaitRegistry {
 public:
  WaitRegistry();
  ~WaitRegistry();  // fails every remaining waiter with ErrStopped
  WaitRegistry(const WaitRegistry&) = delete;
  WaitRegistry& operator=(const WaitRegistry&) = delete;

  // Registers a waiter. IDs are unique per registry (NextId()).
  void Register(uint64_t id, absl::Time deadline, Completion done);
  // Completes the waiter of id with result; false when there is none (already completed, or
  // proposed by another member).
  bool Trigger(uint64_t id, ApplyResult result);
  // Completes the waiter of id with an error.
  bool Fail(uint64_t id, absl::Status status);
  // Completes every waiter with an error (shutdown).
  void FailAll(absl::Status status);

  size_t size() const;

 private:
  struct Waiter {
    absl::Time deadline;
    Completion done;
  };
  void ExpireLoop();

  mutable absl::Mutex mu_;
  std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  std::multimap<absl::Time, uint64_t> deadlines_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread expirer_;
};

// Unique request IDs: the member ID's low 16 bits, then 48 bits that start at the member's
// start-up time in milliseconds and count up, so IDs from restarts of a member do not repeat.
class RequestIdGenerator {
 public:
  RequestIdGenerator(uint64_t member_id, absl::Time now);
  uint64_t Next();

 private:
  const uint64_t prefix_;
  std::atomic<uint64_t> suffix_;
};

}  // namespace kvd::server
