// WatchOutbox: the bounded queue of responses waiting to be written to one watch stream.
//
// The WatchHub queues into it (from the apply thread and its catch-up thread); the stream's
// writer takes from it and turns each WatchDelivery into WatchResponse messages (Build). Event
// deliveries are bounded — by count and by the estimated bytes of their events — and TryPush
// refuses one that does not fit, so a client that does not read costs at most the bound: its
// watchers then fall behind (the hub re-reads what they missed from the store once there is
// room again). Control responses (created, canceled, progress) are few, are never refused, and
// keep their place in the order.
//
// Event deliveries share their events: one EventBatch per applied batch (or per page read from
// the store) for every watcher, each delivery naming the events it wants by index. Copies are
// made only when the writer builds the response.
//
// Thread-safety: every method may be called from any thread. `on_ready` is called, without the
// outbox's lock held, when something is queued while the writer is idle (Take returned nothing
// since the last call); it must not block.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvccpb/kv.pb.h"

namespace kvd::server {

// Events shared by many deliveries; immutable once shared.
struct EventBatch {
  std::vector<mvccpb::Event> events;
  std::vector<uint32_t> sizes;  // encoded size of each event, prev_kv included

  void ComputeSizes();
};

// Some events of one batch: (*batch).events[i] for i in *indices.
struct EventSlice {
  std::shared_ptr<const EventBatch> batch;
  std::shared_ptr<const std::vector<uint32_t>> indices;
};

// One response for one watcher, before it is built: events (ordered by revision) or a control
// response.
struct WatchDelivery {
  int64_t watch_id = 0;
  int64_t revision = 0;  // the header's revision
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;
  std::string cancel_reason;
  std::vector<EventSlice> slices;  // empty for control and progress responses
  bool prev_kv = false;            // keep the events' prev_kv
  bool fragment = false;           // may be split (the watcher asked for fragments)
  size_t bytes = 0;                // estimated size of the events

  bool has_events() const { return !slices.empty(); }
};

// The WatchResponse messages a delivery becomes: one, or — when it may be fragmented and its
// encoding reaches max_response_bytes — several, all but the last marked `fragment`, each with
// at least one event (etcd's rule). The header gets only `revision`; the writer completes it.
std::vector<etcdserverpb::WatchResponse> BuildResponses(const WatchDelivery& d,
                                                        size_t max_response_bytes);

class WatchOutbox {
 public:
  struct Limits {
    size_t max_deliveries = 128;
    size_t max_bytes = size_t{4} << 20;
  };

  WatchOutbox(Limits limits, std::function<void()> on_ready);

  // Queues an event delivery if it fits (a delivery always fits an empty outbox). False, and
  // nothing queued, when it does not or the outbox is closed.
  bool TryPush(WatchDelivery d);
  // Queues a control response (never refused; dropped when closed).
  void PushControl(WatchDelivery d);
  // Whether an event delivery of `bytes` would be accepted now.
  bool HasRoom(size_t bytes = 0) const;

  // Writer side: the next delivery, with the event deliveries of the same watcher queued right
  // behind it merged in (their events follow in order; the header revision is the last one's).
  // Nothing when empty; the writer is then idle until on_ready.
  std::optional<WatchDelivery> Take();

  // Drops what is queued and refuses everything from now on.
  void Close();

  size_t queued() const;
  size_t queued_bytes() const;

 private:
  bool FitsLocked(size_t bytes) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues d; true when the writer must be woken.
  bool PushLocked(WatchDelivery d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Limits limits_;
  const std::function<void()> on_ready_;
  mutable absl::Mutex mu_;
  std::deque<WatchDelivery> queue_ ABSL_GUARDED_BY(mu_);
  size_t event_deliveries_ ABSL_GUARDED_BY(mu_) = 0;
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool writer_idle_ ABSL_GUARDED_BY(mu_) = true;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace kvd::server
