#include "server/watch_hub.h"

#include <algorithm>
#include <utility>

#include "spdlog/spdlog.h"
#include "storage/mvcc/errors.h"

namespace kvd::server {
namespace {

int64_t RevisionOf(const mvccpb::Event& ev) { return ev.kv().mod_revision(); }

bool IsFromKey(const std::string& range_end) {
  return range_end.size() == 1 && range_end[0] == '\0';
}

}  // namespace

WatchHub::WatchHub(const mvcc::Store* store, Options options)
    : store_(store), options_(options), revision_(store->CurrentRevision()) {}

WatchHub::~WatchHub() { Stop(); }

void WatchHub::Start() {
  thread_ = std::thread([this] { Run(); });
}

void WatchHub::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void WatchHub::Run() {
  size_t progressed = 0;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      absl::Duration wait = options_.idle_poll;
      if (!unsynced_.empty()) wait = progressed > 0 ? absl::ZeroDuration() : options_.catch_up_poll;
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || wake_; };
      mu_.AwaitWithTimeout(absl::Condition(&ready), wait);
      if (stopping_) return;
      wake_ = false;
    }
    progressed = CatchUpOnce(absl::Now());
  }
}

int64_t WatchHub::revision() const {
  absl::MutexLock lock(&mu_);
  return revision_;
}

WatchHub::Stats WatchHub::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{.streams = streams_.size(),
               .synced = synced_.size(),
               .unsynced = unsynced_.size(),
               .revision = revision_};
}

uint64_t WatchHub::OpenStream(WatchOutbox* outbox) {
  absl::MutexLock lock(&mu_);
  auto s = std::make_unique<Stream>();
  s->id = next_stream_++;
  s->outbox = outbox;
  const uint64_t id = s->id;
  streams_.emplace(id, std::move(s));
  return id;
}

void WatchHub::CloseStream(uint64_t stream) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  Stream& s = *it->second;
  while (!s.watchers.empty()) RemoveWatcher(s, s.watchers.begin()->second.get());
  streams_.erase(it);
}

void WatchHub::Create(uint64_t stream, const etcdserverpb::WatchCreateRequest& req) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  Stream& s = *it->second;
  auto refuse = [&](const char* reason) {
    WatchDelivery d;
    d.watch_id = -1;
    d.created = true;
    d.canceled = true;
    d.cancel_reason = reason;
    d.revision = revision_;
    s.outbox->PushControl(std::move(d));
  };
  auto w = std::make_unique<Watcher>();
  w->key = req.key().empty() ? std::string(1, '\0') : req.key();
  w->range_end = req.range_end();
  if (!w->range_end.empty() && !IsFromKey(w->range_end) && w->key >= w->range_end) {
    refuse(kErrWatcherRangeEmpty);
    return;
  }
  int64_t id = req.watch_id();
  if (id == 0) {
    while (s.watchers.contains(s.next_auto_id)) ++s.next_auto_id;
    id = s.next_auto_id++;
  } else if (s.watchers.contains(id)) {
    refuse(kErrWatcherDuplicateId);
    return;
  }
  w->serial = next_serial_++;
  w->id = id;
  w->stream = stream;
  w->outbox = s.outbox;
  for (int f : req.filters()) {
    if (f == etcdserverpb::WatchCreateRequest::NOPUT) w->no_put = true;
    if (f == etcdserverpb::WatchCreateRequest::NODELETE) w->no_delete = true;
  }
  w->prev_kv = req.prev_kv();
  w->progress_notify = req.progress_notify();
  w->fragment = req.fragment();
  const int64_t start = req.start_revision();
  const bool synced = start == 0 || start > revision_;
  w->min_rev = synced ? std::max(revision_ + 1, start) : std::max<int64_t>(start, 1);

  WatchDelivery created;
  created.watch_id = id;
  created.created = true;
  created.revision = revision_;
  s.outbox->PushControl(std::move(created));

  Watcher* raw = w.get();
  s.watchers.emplace(id, std::move(w));
  if (raw->prev_kv) ++prev_kv_watchers_;
  if (synced) {
    raw->synced = true;
    synced_.Add(raw);
  } else {
    unsynced_.Add(raw);
    ++s.unsynced;
    wake_ = true;
  }
  if (raw->progress_notify && !s.has_progress_watchers) {
    s.has_progress_watchers = true;
    // Up to a tenth of the interval as jitter, so streams opened together do not tick together.
    const double jitter = static_cast<double>((stream * 2654435761u) % 1000) / 10000.0;
    s.next_progress = absl::Now() + options_.progress_interval * (1.0 + jitter);
  }
}

void WatchHub::Cancel(uint64_t stream, int64_t watch_id) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  Stream& s = *it->second;
  auto w = s.watchers.find(watch_id);
  if (w == s.watchers.end()) return;
  RemoveWatcher(s, w->second.get());
  WatchDelivery d;
  d.watch_id = watch_id;
  d.canceled = true;
  d.revision = revision_;
  s.outbox->PushControl(std::move(d));
  MaybeAnswerProgress(s);
}

void WatchHub::RequestProgress(uint64_t stream) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  it->second->progress_requested = true;
  MaybeAnswerProgress(*it->second);
}

void WatchHub::MaybeAnswerProgress(Stream& s) {
  if (!s.progress_requested || s.unsynced > 0) return;
  s.progress_requested = false;
  WatchDelivery d;
  d.watch_id = -1;
  d.revision = revision_;
  s.outbox->PushControl(std::move(d));
}

void WatchHub::RemoveWatcher(Stream& s, Watcher* w) {
  if (w->synced) {
    synced_.Remove(w);
  } else if (unsynced_.Remove(w)) {
    --s.unsynced;
  }
  if (w->prev_kv) --prev_kv_watchers_;
  s.watchers.erase(w->id);
}

void WatchHub::MakeUnsynced(Watcher* w) {
  synced_.Remove(w);
  w->synced = false;
  unsynced_.Add(w);
  ++streams_.at(w->stream)->unsynced;
  wake_ = true;
}

void WatchHub::MakeSynced(Watcher* w) {
  unsynced_.Remove(w);
  w->synced = true;
  synced_.Add(w);
  --streams_.at(w->stream)->unsynced;
}

std::shared_ptr<const std::vector<uint32_t>> WatchHub::Select(
    const Watcher& w, const EventBatch& batch,
    const std::shared_ptr<const std::vector<uint32_t>>& candidates) const {
  if (candidates->empty()) return candidates;
  if (!w.no_put && !w.no_delete && RevisionOf(batch.events[candidates->front()]) >= w.min_rev) {
    return candidates;
  }
  auto out = std::make_shared<std::vector<uint32_t>>();
  for (uint32_t i : *candidates) {
    const mvccpb::Event& ev = batch.events[i];
    if (RevisionOf(ev) < w.min_rev) continue;
    if (w.no_put && ev.type() == mvccpb::Event::PUT) continue;
    if (w.no_delete && ev.type() == mvccpb::Event::DELETE) continue;
    out->push_back(i);
  }
  return out;
}

WatchDelivery WatchHub::EventsFor(const Watcher& w, std::shared_ptr<const EventBatch> batch,
                                  std::shared_ptr<const std::vector<uint32_t>> indices,
                                  int64_t revision) {
  WatchDelivery d;
  d.watch_id = w.id;
  d.revision = std::max(revision, RevisionOf(batch->events[indices->back()]));
  d.prev_kv = w.prev_kv;
  d.fragment = w.fragment;
  for (uint32_t i : *indices) d.bytes += batch->sizes[i];
  d.slices.push_back(EventSlice{std::move(batch), std::move(indices)});
  return d;
}

mvcc::EventRecording WatchHub::Recording() const {
  absl::MutexLock lock(&mu_);
  return mvcc::EventRecording{.events = true, .prev_kv = prev_kv_watchers_ > 0};
}

std::shared_ptr<const EventBatch> WatchHub::WithPrevKvs(
    const EventBatch& batch, const std::vector<uint32_t>& indices) const {
  auto out = std::make_shared<EventBatch>();
  out->events.reserve(indices.size());
  for (uint32_t i : indices) {
    mvccpb::Event ev = batch.events[i];
    const bool created = ev.type() == mvccpb::Event::PUT && ev.kv().version() == 1;
    if (!created) {
      etcdserverpb::RangeRequest req;
      req.set_key(ev.kv().key());
      req.set_revision(ev.kv().mod_revision() - 1);
      absl::StatusOr<etcdserverpb::RangeResponse> prev = store_->Range(req);
      // Compacted meanwhile: the event goes without it, as etcd sends it then.
      if (prev.ok() && prev->kvs_size() == 1) *ev.mutable_prev_kv() = prev->kvs(0);
    }
    out->events.push_back(std::move(ev));
  }
  out->ComputeSizes();
  return out;
}

void WatchHub::Notify(std::vector<mvcc::RevisionEvents> revisions, mvcc::EventRecording recorded) {
  if (revisions.empty()) return;
  const int64_t first_rev = revisions.front().revision;
  const int64_t last_rev = revisions.back().revision;
  std::shared_ptr<EventBatch> batch;
  absl::MutexLock lock(&mu_);
  if (synced_.empty()) {
    revision_ = std::max(revision_, last_rev);
    return;
  }
  batch = std::make_shared<EventBatch>();
  for (mvcc::RevisionEvents& r : revisions) {
    for (mvccpb::Event& ev : r.events) batch->events.push_back(std::move(ev));
  }
  batch->ComputeSizes();
  std::shared_ptr<const EventBatch> shared = batch;

  // Which events each watched range wants, computed once per range.
  absl::flat_hash_map<const WatcherGroup::Set*, std::vector<uint32_t>> matches;
  for (uint32_t i = 0; i < shared->events.size(); ++i) {
    synced_.ForEachSetContaining(shared->events[i].kv().key(),
                                 [&](const WatcherGroup::Set& set) { matches[&set].push_back(i); });
  }
  std::vector<Watcher*> victims;
  for (auto& [set, indices] : matches) {
    auto candidates = std::make_shared<const std::vector<uint32_t>>(std::move(indices));
    for (Watcher* w : *set) {
      std::shared_ptr<const std::vector<uint32_t>> selected = Select(*w, *shared, candidates);
      if (selected->empty()) continue;
      std::shared_ptr<const EventBatch> events = shared;
      if (w->prev_kv && !recorded.prev_kv) {
        // Created after the batch began, which recorded no prev_kv: read them for it.
        events = WithPrevKvs(*shared, *selected);
        auto all = std::make_shared<std::vector<uint32_t>>(events->events.size());
        for (uint32_t i = 0; i < all->size(); ++i) (*all)[i] = i;
        selected = std::move(all);
      }
      if (w->outbox->TryPush(EventsFor(*w, std::move(events), std::move(selected), last_rev))) {
        w->min_rev = std::max(w->min_rev, last_rev + 1);
        w->sent_since_progress = true;
      } else {
        victims.push_back(w);
      }
    }
  }
  revision_ = std::max(revision_, last_rev);
  for (Watcher* w : victims) {
    // Nothing of this batch was queued for it: it catches up from the batch's first revision.
    w->min_rev = std::max(w->min_rev, first_rev);
    MakeUnsynced(w);
  }
}

void WatchHub::Restore() {
  absl::MutexLock lock(&mu_);
  std::vector<Watcher*> synced(synced_.watchers().begin(), synced_.watchers().end());
  for (Watcher* w : synced) {
    w->min_rev = std::max(w->min_rev, revision_ + 1);
    MakeUnsynced(w);
  }
  revision_ = store_->CurrentRevision();
}

void WatchHub::SendProgressNotifications(absl::Time now) {
  for (auto& [id, s] : streams_) {
    if (!s->has_progress_watchers || now < s->next_progress) continue;
    const double jitter = static_cast<double>((id * 2654435761u) % 1000) / 10000.0;
    s->next_progress = now + options_.progress_interval * (1.0 + jitter);
    for (auto& [watch_id, w] : s->watchers) {
      if (!w->progress_notify) continue;
      if (w->synced && !w->sent_since_progress) {
        WatchDelivery d;
        d.watch_id = watch_id;
        d.revision = revision_;
        s->outbox->PushControl(std::move(d));
      }
      w->sent_since_progress = false;
    }
  }
}

size_t WatchHub::CatchUpOnce(absl::Time now) {
  struct Chosen {
    uint64_t stream;
    int64_t watch_id;
    uint64_t serial;
  };
  std::vector<Chosen> chosen;
  int64_t from = 0;
  bool want_prev_kv = false;
  std::pair<std::string, std::string> cover;
  size_t progressed = 0;
  {
    absl::MutexLock lock(&mu_);
    SendProgressNotifications(now);
    if (unsynced_.empty()) return 0;
    const int64_t compact = store_->CompactRevision();
    std::vector<Watcher*> compacted;
    std::vector<Watcher*> ready;
    std::vector<Watcher*> picked;
    for (Watcher* w : unsynced_.watchers()) {
      if (w->min_rev < compact) {
        compacted.push_back(w);
      } else if (w->min_rev > revision_) {
        ready.push_back(w);  // nothing to read (e.g. after Restore)
      } else if (picked.size() < options_.catch_up_watchers && w->outbox->HasRoom()) {
        picked.push_back(w);
      }
    }
    for (Watcher* w : compacted) {
      Stream& s = *streams_.at(w->stream);
      WatchDelivery d;
      d.watch_id = w->id;
      d.compact_revision = compact;
      d.canceled = true;
      s.outbox->PushControl(std::move(d));
      RemoveWatcher(s, w);
      MaybeAnswerProgress(s);
    }
    for (Watcher* w : ready) {
      MakeSynced(w);
      MaybeAnswerProgress(*streams_.at(w->stream));
    }
    progressed += compacted.size() + ready.size();
    if (picked.empty()) return progressed;
    from = picked.front()->min_rev;
    for (Watcher* w : picked) {
      from = std::min(from, w->min_rev);
      want_prev_kv |= w->prev_kv;
      chosen.push_back(Chosen{w->stream, w->id, w->serial});
    }
    cover = WatcherGroup::Cover(picked);
  }

  mvcc::EventQuery query;
  query.key = cover.first;
  query.range_end = cover.second;
  query.start_revision = from;
  query.limit = options_.catch_up_page_events;
  query.prev_kv = want_prev_kv;
  absl::StatusOr<mvcc::EventPage> page = store_->ReadEvents(query);
  if (!page.ok()) {
    // Compacted meanwhile: the next round cancels those watchers.
    if (page.status().code() != absl::StatusCode::kOutOfRange) {
      spdlog::error("watch catch-up: reading history from revision {} failed: {}", from,
                    page.status().ToString());
    }
    return progressed;
  }
  auto batch = std::make_shared<EventBatch>();
  batch->events = std::move(page->events);
  batch->ComputeSizes();
  std::shared_ptr<const EventBatch> shared = batch;

  absl::MutexLock lock(&mu_);
  for (const Chosen& c : chosen) {
    auto s = streams_.find(c.stream);
    if (s == streams_.end()) continue;
    auto it = s->second->watchers.find(c.watch_id);
    if (it == s->second->watchers.end() || it->second->serial != c.serial) continue;
    Watcher* w = it->second.get();
    if (w->synced) continue;
    auto indices = std::make_shared<std::vector<uint32_t>>();
    for (uint32_t i = 0; i < shared->events.size(); ++i) {
      const mvccpb::Event& ev = shared->events[i];
      if (RevisionOf(ev) < w->min_rev || !w->Contains(ev.kv().key())) continue;
      if (w->no_put && ev.type() == mvccpb::Event::PUT) continue;
      if (w->no_delete && ev.type() == mvccpb::Event::DELETE) continue;
      indices->push_back(i);
    }
    if (!indices->empty()) {
      if (!w->outbox->TryPush(EventsFor(*w, shared, std::move(indices), revision_))) continue;
      w->sent_since_progress = true;
    }
    w->min_rev = std::max(w->min_rev, page->next_revision);
    ++progressed;
    if (w->min_rev > revision_) {
      MakeSynced(w);
      MaybeAnswerProgress(*s->second);
    }
  }
  return progressed;
}

}  // namespace kvd::server
