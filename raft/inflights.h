// Inflights: the append messages a leader has sent to one follower in the replicate state and not
// yet seen acknowledged, as a bounded ring of the last index each message carried. When the ring
// is full the leader stops sending to that follower (flow control, Config::max_inflight_msgs).
//
// Internal to the Raft core; one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "raft/types.h"

namespace kvd::raft {

class Inflights {
 public:
  explicit Inflights(size_t capacity);

  // Records a message whose last entry is `last` (indexes must increase). Must not be Full().
  void Add(Index last);
  // The follower acknowledged everything up to `to`: frees the messages at or below it.
  void FreeLE(Index to);
  // Frees the oldest message (a heartbeat response shows the follower alive; let one more out).
  void FreeFirstOne();
  bool Full() const { return count_ == capacity_; }
  size_t Count() const { return count_; }
  size_t capacity() const { return capacity_; }
  void Reset();

 private:
  size_t capacity_;
  size_t start_ = 0;  // ring position of the oldest message
  size_t count_ = 0;
  std::vector<Index> ring_;
};

}  // namespace kvd::raft
