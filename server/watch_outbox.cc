#include "server/watch_outbox.h"

#include <utility>

namespace kvd::server {
namespace {

// Deliveries are merged into one response only up to this many bytes of events, so a merged
// response stays well below the 4 MiB a gRPC client accepts by default.
constexpr size_t kMaxMergedBytes = size_t{1} << 20;

// Bytes a repeated message field adds for one element of `size` bytes (tag + length + body).
size_t FieldBytes(size_t size) {
  size_t varint = 1;
  for (size_t v = size; v >= 0x80; v >>= 7) ++varint;
  return 1 + varint + size;
}

}  // namespace

void EventBatch::ComputeSizes() {
  sizes.resize(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    sizes[i] = static_cast<uint32_t>(events[i].ByteSizeLong());
  }
}

std::vector<etcdserverpb::WatchResponse> BuildResponses(const WatchDelivery& d,
                                                        size_t max_response_bytes) {
  etcdserverpb::WatchResponse base;
  base.mutable_header()->set_revision(d.revision);
  base.set_watch_id(d.watch_id);
  base.set_created(d.created);
  base.set_canceled(d.canceled);
  base.set_compact_revision(d.compact_revision);
  base.set_cancel_reason(d.cancel_reason);
  std::vector<etcdserverpb::WatchResponse> out;
  out.push_back(base);
  size_t total = 0;
  size_t count = 0;
  for (const EventSlice& s : d.slices) {
    for (uint32_t i : *s.indices) {
      total += FieldBytes(s.batch->sizes[i]);
      ++count;
    }
  }
  const size_t header_bytes = base.ByteSizeLong() + 16;  // + header fields the writer adds
  const bool split = d.fragment && count >= 2 && header_bytes + total >= max_response_bytes;
  size_t current = header_bytes;
  for (const EventSlice& s : d.slices) {
    for (uint32_t i : *s.indices) {
      const mvccpb::Event& ev = s.batch->events[i];
      size_t ev_bytes = FieldBytes(s.batch->sizes[i]);
      if (split && out.back().events_size() > 0 && current + ev_bytes >= max_response_bytes) {
        out.back().set_fragment(true);
        out.push_back(base);
        current = header_bytes;
      }
      mvccpb::Event* copy = out.back().add_events();
      if (d.prev_kv || !ev.has_prev_kv()) {
        *copy = ev;
      } else {
        copy->set_type(ev.type());
        *copy->mutable_kv() = ev.kv();
      }
      current += ev_bytes;
    }
  }
  return out;
}

WatchOutbox::WatchOutbox(Limits limits, std::function<void()> on_ready)
    : limits_(limits), on_ready_(std::move(on_ready)) {}

bool WatchOutbox::FitsLocked(size_t bytes) const {
  if (event_deliveries_ == 0) return true;
  return event_deliveries_ < limits_.max_deliveries && bytes_ + bytes <= limits_.max_bytes;
}

bool WatchOutbox::HasRoom(size_t bytes) const {
  absl::MutexLock lock(&mu_);
  return !closed_ && FitsLocked(bytes);
}

bool WatchOutbox::PushLocked(WatchDelivery d) {
  if (d.has_events()) {
    ++event_deliveries_;
    bytes_ += d.bytes;
  }
  queue_.push_back(std::move(d));
  const bool wake = writer_idle_;
  writer_idle_ = false;
  return wake;
}

bool WatchOutbox::TryPush(WatchDelivery d) {
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    if (closed_ || !FitsLocked(d.bytes)) return false;
    wake = PushLocked(std::move(d));
  }
  if (wake && on_ready_) on_ready_();
  return true;
}

void WatchOutbox::PushControl(WatchDelivery d) {
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    wake = PushLocked(std::move(d));
  }
  if (wake && on_ready_) on_ready_();
}

std::optional<WatchDelivery> WatchOutbox::Take() {
  absl::MutexLock lock(&mu_);
  if (queue_.empty()) {
    writer_idle_ = true;
    return std::nullopt;
  }
  WatchDelivery d = std::move(queue_.front());
  queue_.pop_front();
  if (d.has_events()) {
    --event_deliveries_;
    bytes_ -= d.bytes;
    while (!queue_.empty() && queue_.front().has_events() &&
           queue_.front().watch_id == d.watch_id &&
           d.bytes + queue_.front().bytes <= kMaxMergedBytes) {
      WatchDelivery& next = queue_.front();
      --event_deliveries_;
      bytes_ -= next.bytes;
      d.bytes += next.bytes;
      d.revision = next.revision;
      for (EventSlice& s : next.slices) d.slices.push_back(std::move(s));
      queue_.pop_front();
    }
  }
  return d;
}

void WatchOutbox::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  queue_.clear();
  event_deliveries_ = 0;
  bytes_ = 0;
}

size_t WatchOutbox::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

size_t WatchOutbox::queued_bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace kvd::server
