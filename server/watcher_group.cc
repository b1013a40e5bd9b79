#include "server/watcher_group.h"

#include <cstdio>
#include <cstdlib>

namespace kvd::server {

WatcherGroup::RangeKey WatcherGroup::RangeOf(const Watcher& w) {
  if (w.range_end.size() == 1 && w.range_end[0] == '\0') return {w.key, ""};
  return {w.key, w.range_end};
}

void WatcherGroup::Add(Watcher* w) {
  if (!all_.insert(w).second) {
    std::fprintf(stderr, "WatcherGroup: watcher %lld added twice\n", static_cast<long long>(w->id));
    std::abort();
  }
  if (w->range_end.empty()) {
    singles_[w->key].insert(w);
  } else {
    ranges_[RangeOf(*w)].insert(w);
  }
}

bool WatcherGroup::Remove(Watcher* w) {
  if (all_.erase(w) == 0) return false;
  if (w->range_end.empty()) {
    auto it = singles_.find(w->key);
    it->second.erase(w);
    if (it->second.empty()) singles_.erase(it);
  } else {
    auto it = ranges_.find(RangeOf(*w));
    it->second.erase(w);
    if (it->second.empty()) ranges_.erase(it);
  }
  return true;
}

std::pair<std::string, std::string> WatcherGroup::Cover(const std::vector<Watcher*>& ws) {
  std::string lo;
  std::string hi;  // exclusive; "" = unbounded
  bool unbounded = false;
  bool first = true;
  for (const Watcher* w : ws) {
    std::string end;
    if (w->range_end.empty()) {
      end = w->key + std::string(1, '\0');
    } else if (w->range_end.size() == 1 && w->range_end[0] == '\0') {
      unbounded = true;
    } else {
      end = w->range_end;
    }
    if (first || w->key < lo) lo = w->key;
    if (!end.empty() && (first || end > hi)) hi = end;
    first = false;
  }
  if (unbounded || hi.empty()) return {lo, std::string(1, '\0')};
  return {lo, hi};
}

}  // namespace kvd::server
