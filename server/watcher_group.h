// Watcher and WatcherGroup: one watch of a key range, and a set of watchers indexed by the keys
// they watch (the synced and unsynced groups of the WatchHub).
//
// Ranges follow etcd's watch rules after its normalization of the create request: `key` is
// never empty (an empty key becomes "\0", the smallest key); an empty `range_end` watches the one
// key; "\0" watches every key >= key; anything else the keys in [key, range_end).
//
// Not thread-safe: the WatchHub guards its groups with its mutex.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"

namespace kvd::server {

class WatchOutbox;

struct Watcher {
  uint64_t serial = 0;            // unique within the hub, never reused
  int64_t id = 0;                 // unique within its stream
  uint64_t stream = 0;            // the WatchHub's stream ID
  WatchOutbox* outbox = nullptr;  // the stream's; outlives the watcher
  std::string key;
  std::string range_end;
  bool no_put = false;
  bool no_delete = false;
  bool prev_kv = false;
  bool progress_notify = false;
  bool fragment = false;
  // The first revision this watcher has not been sent (or, for a future start revision, the
  // first it wants): everything it wants below min_rev is in its stream's outbox or sent.
  int64_t min_rev = 0;
  bool synced = false;
  // Events were queued since the last progress notification tick.
  bool sent_since_progress = false;

  bool Contains(std::string_view k) const {
    if (range_end.empty()) return k == key;
    if (range_end.size() == 1 && range_end[0] == '\0') return k >= key;
    return k >= key && k < range_end;
  }
};

class WatcherGroup {
 public:
  using Set = absl::flat_hash_set<Watcher*>;

  // w must not be in the group.
  void Add(Watcher* w);
  // False when w is not in the group.
  bool Remove(Watcher* w);
  bool Contains(Watcher* w) const { return all_.contains(w); }
  size_t size() const { return all_.size(); }
  bool empty() const { return all_.empty(); }
  const Set& watchers() const { return all_; }

  // Calls fn(const Set&) once for every distinct watched range that contains key; each set holds
  // the watchers of one range. Cost: O(1) for single-key watches plus O(ranges starting at or
  // below key) for range watches. fn must not change the group.
  template <typename Fn>
  void ForEachSetContaining(std::string_view key, Fn&& fn) const {
    if (!singles_.empty()) {
      auto it = singles_.find(absl::string_view(key.data(), key.size()));
      if (it != singles_.end()) fn(it->second);
    }
    for (auto it = ranges_.begin(); it != ranges_.end() && it->first.first <= key; ++it) {
      const std::string& end = it->first.second;
      if (end.empty() || key < std::string_view(end)) fn(it->second);
    }
  }

  // The smallest range that covers every watcher of `ws`, as a (key, range_end) pair in etcd's
  // encoding ("\0" end: unbounded).
  static std::pair<std::string, std::string> Cover(const std::vector<Watcher*>& ws);

 private:
  // (key, end) where end "" means unbounded (a from-key watch).
  using RangeKey = std::pair<std::string, std::string>;
  static RangeKey RangeOf(const Watcher& w);

  Set all_;
  absl::flat_hash_map<std::string, Set> singles_;
  std::map<RangeKey, Set, std::less<>> ranges_;
};

}  // namespace kvd::server
