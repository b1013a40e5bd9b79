// Watch workload: one watcher per member watches the whole keyspace from revision 1 while the
// other workloads write. When its stream breaks (member killed, restarted, stream cancelled) it
// reconnects to the same member with start_revision = last revision seen + 1. After heal, once
// every watcher has caught up with the final revision, each watcher's stream must be:
//   - ordered: revisions never go back, and one revision's events arrive together;
//   - unique: no (revision, key) twice;
//   - gap-free: every revision from 2 to the final one is there (each revision changes at least
//     one key, and the watch covers every key);
//   - consistent: every watcher saw the same events for each revision, and replaying a stream
//     from an empty store gives exactly the store's final content (keys, values, mod revisions)
//     as a serializable Range over all keys reads it.
// A watch cancelled by the server or answered with a compaction is an anomaly (nothing compacts
// in a chaos run).
//
// Stop() does not end the watchers: Check waits (up to 30 s) for them to reach the final
// revision, then ends them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "tests/chaos/workload.h"

namespace kvd::chaos {

class WatchWorkload : public Workload {
 public:
  WatchWorkload() = default;
  ~WatchWorkload() override { EndWatchers(); }

  std::string name() const override { return "watch"; }
  void Start(const RunContext& ctx) override;
  void Stop() override {}
  std::vector<std::string> Check(const RunContext& ctx) override;
  void WriteArtifacts(const std::string& dir) const override;
  uint64_t ops() const override { return ops_.load(); }
  std::string Summary() const override;

 private:
  struct Event {
    int64_t revision = 0;
    int type = 0;  // mvccpb::Event::PUT or DELETE
    std::string key;
    std::string value;
    int64_t mod_revision = 0;
    uint64_t response = 0;  // which response of the watcher's streams carried it
  };
  struct Watcher {
    std::string endpoint;
    std::mutex mu;
    std::vector<Event> events;               // in arrival order, guarded by mu
    int64_t last_revision = 0;               // guarded by mu
    int reconnects = 0;                      // guarded by mu
    uint64_t responses = 0;                  // guarded by mu
    std::vector<std::string> errors;         // server-side cancels, compactions; guarded by mu
    grpc::ClientContext* context = nullptr;  // of the open stream, guarded by mu
    std::thread thread;
  };
  void Watch(Watcher* w);
  void EndWatchers();

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ops_{0};  // responses received
  std::vector<std::unique_ptr<Watcher>> watchers_;
};

}  // namespace kvd::chaos
