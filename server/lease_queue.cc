#include "server/lease_queue.h"

namespace kvd::server {

void LeaseQueue::Schedule(int64_t id, absl::Time at) {
  auto [it, inserted] = due_.try_emplace(id, at);
  if (!inserted) {
    order_.erase({it->second, id});
    it->second = at;
  }
  order_.emplace(at, id);
}

void LeaseQueue::Remove(int64_t id) {
  auto it = due_.find(id);
  if (it == due_.end()) return;
  order_.erase({it->second, id});
  due_.erase(it);
}

std::vector<int64_t> LeaseQueue::PopDue(absl::Time now, size_t limit) {
  std::vector<int64_t> out;
  while (!order_.empty() && out.size() < limit && order_.begin()->first <= now) {
    const int64_t id = order_.begin()->second;
    order_.erase(order_.begin());
    due_.erase(id);
    out.push_back(id);
  }
  return out;
}

std::optional<absl::Time> LeaseQueue::NextDue() const {
  if (order_.empty()) return std::nullopt;
  return order_.begin()->first;
}

std::optional<absl::Time> LeaseQueue::DueTime(int64_t id) const {
  auto it = due_.find(id);
  if (it == due_.end()) return std::nullopt;
  return it->second;
}

void LeaseQueue::Clear() {
  order_.clear();
  due_.clear();
}

}  // namespace kvd::server
