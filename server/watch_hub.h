// WatchHub: every watcher of this member, and how events reach them (etcd's watchable store).
//
// Watchers live in two groups. A synced watcher has been sent everything up to the revision
// the hub was last notified of; Notify (the apply thread, after each applied batch is committed
// and visible in the store) hands it the new events straight away, as one delivery per applied
// batch holding every revision of the batch it wants, whole and in order. An unsynced watcher
// is behind: a new watcher with an old start revision, or one whose stream's outbox was full
// when Notify came (a slow reader — it is moved to the unsynced group and nothing is kept for
// it). The hub's catch-up thread reads the history such watchers miss from the store, a page at
// a time (one read shared by up to `catch_up_watchers` watchers), queues it to them and moves a
// watcher back to the synced group once it has everything the hub was notified of. A watcher
// whose stream has no room is skipped until it has. A watcher whose next revision was compacted
// away meanwhile gets etcd's compacted response (compact_revision set, canceled) and is removed.
//
// So for each watcher, events arrive ordered by revision, each revision whole (unless the
// watcher asked for fragments of large ones), each once, with no gap; a slow stream never
// blocks the apply thread or other streams, and costs at most its outbox's bound.
//
// Streams. A gRPC watch stream opens a hub stream with its outbox; Create, Cancel and
// RequestProgress queue etcd 3.4's responses to it:
//   - created: watch_id, header revision = the hub's revision when created; a refusal (empty
//     range, duplicate ID) is created+canceled with watch_id -1 and etcd's cancel_reason;
//   - canceled: after a cancel request for an existing watcher, header = the hub's revision;
//   - progress (WatchProgressRequest): watch_id -1 and the hub's revision, queued once every
//     watcher of the stream is synced (at once if they already are), so the revision is one the
//     client has every event up to;
//   - progress notifications (progress_notify watchers): every progress_interval, to each
//     synced watcher that was sent no events since the previous one: watch_id, hub revision.
// Event responses carry the revision of their last event or the hub's revision, whichever is
// larger. Watch IDs chosen by the hub start at 0 per stream and skip IDs in use.
//
// Thread-safety: every method may be called from any thread, except that Notify and Restore
// are for the apply thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "server/watch_outbox.h"
#include "server/watcher_group.h"
#include "storage/mvcc/apply_batch.h"
#include "storage/mvcc/store.h"

namespace kvd::server {

inline constexpr char kErrWatcherRangeEmpty[] = "mvcc: watcher range is empty";
inline constexpr char kErrWatcherDuplicateId[] =
    "mvcc: duplicate watch ID provided on the WatchStream";

class WatchHub {
 public:
  struct Options {
    // Watchers served by one catch-up read, and the events such a read returns at most (whole
    // revisions, so a page may hold more).
    size_t catch_up_watchers = 512;
    size_t catch_up_page_events = 4096;
    // etcd's default is 10 minutes; each stream adds up to a tenth of it as jitter.
    absl::Duration progress_interval = absl::Minutes(10);
    // How often the catch-up thread looks again while watchers wait for room or nothing changed.
    absl::Duration catch_up_poll = absl::Milliseconds(10);
    absl::Duration idle_poll = absl::Milliseconds(100);
  };

  struct Stats {
    size_t streams = 0;
    size_t synced = 0;
    size_t unsynced = 0;
    int64_t revision = 0;
  };

  WatchHub(const mvcc::Store* store, Options options);
  ~WatchHub();  // Stop()s
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Starts / stops the catch-up thread (which also sends progress notifications).
  void Start();
  void Stop();

  // ---- Apply thread.

  // What the next batch must record: its events always, their prev_kv only while some watcher
  // asks for it (a delete of many keys then reads no deleted value).
  mvcc::EventRecording Recording() const;
  // The revisions one applied batch made, committed to the store already, with the events
  // `recorded` (what Recording said when the batch began). A prev_kv watcher created since,
  // when the batch has no prev_kv, gets them read from the store for its events (etcd's watch
  // server reads every prev_kv that way); one compacted meanwhile is left out, as etcd does.
  void Notify(std::vector<mvcc::RevisionEvents> revisions, mvcc::EventRecording recorded);
  // The store's state was replaced (snapshot installed): every watcher catches up from the
  // store, and the hub's revision becomes the store's.
  void Restore();

  // ---- Streams. `outbox` must stay valid until CloseStream returned.

  uint64_t OpenStream(WatchOutbox* outbox);
  // Removes the stream's watchers; nothing is queued to the outbox afterwards.
  void CloseStream(uint64_t stream);
  void Create(uint64_t stream, const etcdserverpb::WatchCreateRequest& req);
  void Cancel(uint64_t stream, int64_t watch_id);
  void RequestProgress(uint64_t stream);

  // One catch-up round and progress check at `now` (what the thread does); for tests.
  // Returns the number of watchers that got events or moved to synced.
  size_t CatchUpOnce(absl::Time now);

  int64_t revision() const;
  Stats stats() const;

 private:
  struct Stream {
    uint64_t id = 0;
    WatchOutbox* outbox = nullptr;
    std::map<int64_t, std::unique_ptr<Watcher>> watchers;
    int64_t next_auto_id = 0;
    size_t unsynced = 0;
    bool progress_requested = false;
    bool has_progress_watchers = false;
    absl::Time next_progress = absl::InfiniteFuture();
  };

  void Run();
  // Moves w out of the synced group into the unsynced one.
  void MakeUnsynced(Watcher* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MakeSynced(Watcher* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveWatcher(Stream& s, Watcher* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues the stream's pending progress response if every watcher is synced.
  void MaybeAnswerProgress(Stream& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendProgressNotifications(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The events of `batch` (indices) that w wants: revision >= min_rev, not filtered out.
  std::shared_ptr<const std::vector<uint32_t>> Select(
      const Watcher& w, const EventBatch& batch,
      const std::shared_ptr<const std::vector<uint32_t>>& candidates) const;
  // Copies of batch.events[indices] with prev_kv read from the store.
  std::shared_ptr<const EventBatch> WithPrevKvs(const EventBatch& batch,
                                                const std::vector<uint32_t>& indices) const;
  static WatchDelivery EventsFor(const Watcher& w, std::shared_ptr<const EventBatch> batch,
                                 std::shared_ptr<const std::vector<uint32_t>> indices,
                                 int64_t revision);

  const mvcc::Store* const store_;
  const Options options_;

  mutable absl::Mutex mu_;
  int64_t revision_ ABSL_GUARDED_BY(mu_);
  uint64_t next_stream_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_serial_ ABSL_GUARDED_BY(mu_) = 1;
  // Watchers (of every stream) asking prev_kv, for Recording.
  size_t prev_kv_watchers_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Stream>> streams_ ABSL_GUARDED_BY(mu_);
  WatcherGroup synced_ ABSL_GUARDED_BY(mu_);
  WatcherGroup unsynced_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace kvd::server
