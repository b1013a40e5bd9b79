// The watch checker: judges what one watcher received against the history of its key range,
// read back from the store independently of the watch path (a Range at every revision).
//
// It checks etcd's watch guarantees: events are ordered by revision; unique (no revision and key
// twice); atomic (all events of one revision in one response, unless the watcher asked for
// fragments); reliable and consistent (for every revision of the checked span, exactly the
// changes history holds — no gap, nothing invented, values as written).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "etcdserverpb/rpc.pb.h"
#include "tests/harness/client.h"

namespace kvd::testing {

// One change: (type, key, value); values are empty for deletes.
struct Change {
  int type = 0;  // mvccpb::Event::PUT (0) or DELETE (1)
  std::string key;
  std::string value;
  bool operator<(const Change& o) const {
    return std::tie(key, type, value) < std::tie(o.key, o.type, o.value);
  }
  bool operator==(const Change& o) const = default;
};

// Revision -> the changes it made to the range, in key order.
using History = std::map<int64_t, std::vector<Change>>;

// Reads the changes of [key, range_end) (etcd's range rules) in revisions [from, to] from the
// member `client` talks to: the range's state at from - 1, then at every revision up to `to`,
// diffed. The revisions must not be compacted.
absl::StatusOr<History> ReadHistory(KvClient& client, const std::string& key,
                                    const std::string& range_end, int64_t from, int64_t to);

// The problems found with the events in `responses` (in arrival order) for a watcher that
// should have received exactly the changes `history` holds for revisions [from, to]; events
// above `to` are ignored. Empty when all is well.
std::vector<std::string> CheckWatch(const std::vector<etcdserverpb::WatchResponse>& responses,
                                    const History& history, int64_t from, int64_t to,
                                    bool fragments_allowed = false);

}  // namespace kvd::testing
