#include "raft/inflights.h"

#include "raft/check.h"

namespace kvd::raft {

Inflights::Inflights(size_t capacity) : capacity_(capacity), ring_(capacity) {
  KVD_CHECK(capacity > 0, "inflight window of 0 messages");
}

void Inflights::Add(Index last) {
  KVD_CHECK(!Full(), "adding to a full inflight window");
  if (count_ > 0) {
    const Index newest = ring_[(start_ + count_ - 1) % capacity_];
    KVD_CHECK(last >= newest, "inflight index ", last, " below the newest ", newest);
  }
  ring_[(start_ + count_) % capacity_] = last;
  ++count_;
}

void Inflights::FreeLE(Index to) {
  while (count_ > 0 && ring_[start_] <= to) {
    start_ = (start_ + 1) % capacity_;
    --count_;
  }
  if (count_ == 0) start_ = 0;
}

void Inflights::FreeFirstOne() {
  if (count_ == 0) return;
  start_ = (start_ + 1) % capacity_;
  --count_;
  if (count_ == 0) start_ = 0;
}

void Inflights::Reset() {
  start_ = 0;
  count_ = 0;
}

}  // namespace kvd::raft
