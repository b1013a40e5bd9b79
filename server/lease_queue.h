// LeaseQueue: lease IDs ordered by a due time, for the leader's expiry and checkpoint schedules.
//
// Each ID is in the queue at most once; scheduling it again moves it. Every operation is
// O(log n). Not thread-safe: the Lessor guards it with its mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace kvd::server {

class LeaseQueue {
 public:
  // Puts id in the queue due at `at`, replacing its earlier due time if it had one.
  void Schedule(int64_t id, absl::Time at);
  // Takes id out of the queue; nothing if it is not in it.
  void Remove(int64_t id);
  // Takes out and returns, earliest first, up to `limit` IDs due at or before `now` (ties in ID
  // order).
  std::vector<int64_t> PopDue(absl::Time now, size_t limit);
  // The earliest due time, if any.
  std::optional<absl::Time> NextDue() const;
  std::optional<absl::Time> DueTime(int64_t id) const;
  size_t size() const { return due_.size(); }
  bool empty() const { return due_.empty(); }
  void Clear();

 private:
  std::set<std::pair<absl::Time, int64_t>> order_;
  absl::flat_hash_map<int64_t, absl::Time> due_;
};

}  // namespace kvd::server
