#include "server/linearizable_reads.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/errors.h"

namespace kvd::server {

LinearizableReads::LinearizableReads(Hooks hooks, absl::Duration retry_interval)
    : hooks_(std::move(hooks)), retry_interval_(retry_interval), loop_([this] { Loop(); }) {}

LinearizableReads::~LinearizableReads() {
  std::vector<Waiter> all;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  loop_.join();
  {
    absl::MutexLock lock(&mu_);
    for (auto& w : pending_) all.push_back(std::move(w));
    for (auto& w : in_flight_) all.push_back(std::move(w));
    for (auto& [index, w] : answered_) all.push_back(std::move(w));
    pending_.clear();
    in_flight_.clear();
    answered_.clear();
  }
  for (Waiter& w : all) w.ready(ErrStopped());
}

void LinearizableReads::Await(absl::Time deadline, Ready ready) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    mu_.Unlock();
    ready(ErrStopped());
    mu_.Lock();
    return;
  }
  pending_.push_back(Waiter{deadline, std::move(ready)});
}

void LinearizableReads::OnReadState(const raft::ReadState& state) {
  std::vector<Ready> done;
  {
    absl::MutexLock lock(&mu_);
    if (!in_flight_contexts_.contains(state.context)) return;  // a round already answered
    for (Waiter& w : in_flight_) answered_.emplace(state.index, std::move(w));
    in_flight_.clear();
    in_flight_contexts_.clear();
    CompleteApplied(&done);
  }
  for (Ready& r : done) r(absl::OkStatus());
}

void LinearizableReads::OnApplied(uint64_t index) {
  std::vector<Ready> done;
  {
    absl::MutexLock lock(&mu_);
    if (index <= applied_) return;
    applied_ = index;
    CompleteApplied(&done);
  }
  for (Ready& r : done) r(absl::OkStatus());
}

void LinearizableReads::CompleteApplied(std::vector<Ready>* out) {
  while (!answered_.empty() && answered_.begin()->first <= applied_) {
    out->push_back(std::move(answered_.begin()->second.ready));
    answered_.erase(answered_.begin());
  }
}

void LinearizableReads::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    const absl::Time now = absl::Now();
    // Expire reads whose deadline passed, wherever they wait.
    std::vector<Ready> expired;
    auto expire = [&](std::vector<Waiter>& list) {
      for (auto it = list.begin(); it != list.end();) {
        if (it->deadline <= now) {
          expired.push_back(std::move(it->ready));
          it = list.erase(it);
        } else {
          ++it;
        }
      }
    };
    expire(pending_);
    expire(in_flight_);
    for (auto it = answered_.begin(); it != answered_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second.ready));
        it = answered_.erase(it);
      } else {
        ++it;
      }
    }
    if (in_flight_.empty()) in_flight_contexts_.clear();

    // Start a round, or ask again for one that went unanswered too long.
    std::string ask;
    if (in_flight_.empty() && !pending_.empty()) {
      in_flight_.swap(pending_);
    }
    if (!in_flight_.empty() &&
        (in_flight_contexts_.empty() || now - in_flight_asked_ >= retry_interval_)) {
      ask = absl::StrCat(next_context_++);
      in_flight_contexts_.insert(ask);
      in_flight_asked_ = now;
    }

    if (!expired.empty() || !ask.empty()) {
      mu_.Unlock();
      const absl::Status why = hooks_.leader_known() ? ErrTimeout() : ErrNoLeader();
      for (Ready& r : expired) r(why);
      if (!ask.empty()) hooks_.request_read_index(ask);
      mu_.Lock();
      continue;
    }
    // Sleep until something changes: a read arrives (pending_ non-empty with no round in
    // flight), a round is answered, or it is time to retry or expire.
    absl::Time wake = now + retry_interval_;
    auto earliest = [&](const Waiter& w) { wake = std::min(wake, w.deadline); };
    for (const Waiter& w : pending_) earliest(w);
    for (const Waiter& w : in_flight_) earliest(w);
    for (const auto& [index, w] : answered_) earliest(w);
    if (!in_flight_.empty()) wake = std::min(wake, in_flight_asked_ + retry_interval_);
    mu_.AwaitWithDeadline(absl::Condition(
                              +[](LinearizableReads* r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                return r->stopping_ ||
                                       (r->in_flight_.empty() && !r->pending_.empty());
                              },
                              this),
                          wake);
  }
}

}  // namespace kvd::server
