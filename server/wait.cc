#include "server/wait.h"

#include <utility>
#include <vector>

#include "server/errors.h"

namespace kvd::server {

WaitRegistry::WaitRegistry() : expirer_([this] { ExpireLoop(); }) {}

WaitRegistry::~WaitRegistry() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  expirer_.join();
  FailAll(ErrStopped());
}

void WaitRegistry::Register(uint64_t id, absl::Time deadline, Completion done) {
  absl::MutexLock lock(&mu_);
  waiters_[id] = Waiter{deadline, std::move(done)};
  deadlines_.emplace(deadline, id);
}

bool WaitRegistry::Trigger(uint64_t id, ApplyResult result) {
  Completion done;
  {
    absl::MutexLock lock(&mu_);
    auto it = waiters_.find(id);
    if (it == waiters_.end()) return false;
    done = std::move(it->second.done);
    auto range = deadlines_.equal_range(it->second.deadline);
    for (auto d = range.first; d != range.second; ++d) {
      if (d->second == id) {
        deadlines_.erase(d);
        break;
      }
    }
    waiters_.erase(it);
  }
  done(std::move(result));
  return true;
}

bool WaitRegistry::Fail(uint64_t id, absl::Status status) {
  return Trigger(id, ApplyResult{std::move(status), nullptr, 0});
}

void WaitRegistry::FailAll(absl::Status status) {
  std::map<uint64_t, Waiter> waiters;
  {
    absl::MutexLock lock(&mu_);
    waiters.swap(waiters_);
    deadlines_.clear();
  }
  for (auto& [id, w] : waiters) w.done(ApplyResult{status, nullptr, 0});
}

size_t WaitRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return waiters_.size();
}

void WaitRegistry::ExpireLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    const absl::Time now = absl::Now();
    std::vector<Completion> expired;
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      auto w = waiters_.find(deadlines_.begin()->second);
      expired.push_back(std::move(w->second.done));
      waiters_.erase(w);
      deadlines_.erase(deadlines_.begin());
    }
    if (!expired.empty()) {
      mu_.Unlock();
      for (Completion& done : expired) done(ApplyResult{ErrTimeout(), nullptr, 0});
      mu_.Lock();
      continue;
    }
    const absl::Time next =
        deadlines_.empty() ? now + absl::Milliseconds(100) : deadlines_.begin()->first;
    // Wakes early when a nearer deadline is registered? Registration does not signal: deadlines
    // are at least a request timeout away, so checking every 100 ms at most is timely enough.
    mu_.AwaitWithDeadline(absl::Condition(&stopping_),
                          std::min(next, now + absl::Milliseconds(100)));
  }
}

RequestIdGenerator::RequestIdGenerator(uint64_t member_id, absl::Time now)
    : prefix_((member_id & 0xffff) << 48),
      suffix_((static_cast<uint64_t>(absl::ToUnixMillis(now)) << 8) & ((uint64_t{1} << 48) - 1)) {}

uint64_t RequestIdGenerator::Next() {
  return prefix_ | (suffix_.fetch_add(1, std::memory_order_relaxed) & ((uint64_t{1} << 48) - 1));
}

}  // namespace kvd::server
