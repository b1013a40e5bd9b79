// etcdserverpb.Watch: the bidirectional watch stream, on top of the WatchHub.
//
// Each gRPC stream opens a hub stream with its own bounded WatchOutbox. Requests are handled as
// they arrive (create, cancel, progress — see watch_hub.h for the responses); responses are
// written one at a time, in the order they were queued, by whichever thread finds the writer
// idle: a writer pool thread when the hub queued into an idle outbox (so the apply thread never
// builds or writes responses), the gRPC thread of the previous write otherwise. Headers get the
// cluster, member and current Raft term when written. Like etcd, a stream stays open after the
// client half-closes it, until the client cancels it or the server stops.
//
// Thread-safety: gRPC calls the service from its threads; Shutdown may be called from any.
#pragma once

#include <cstddef>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/executor.h"
#include "server/watch_hub.h"
#include "server/watch_outbox.h"

namespace kvd::server {

class Server;

class WatchService final : public etcdserverpb::Watch::CallbackService {
 public:
  struct Options {
    WatchOutbox::Limits outbox;
    // Fragmented responses stay below this size (etcd: --max-request-bytes + 512 KiB).
    size_t max_response_bytes = size_t{2} << 20;
    int writer_threads = 2;
  };

  WatchService(Server* server, WatchHub* hub, Options options);
  ~WatchService() override;

  grpc::ServerBidiReactor<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>* Watch(
      grpc::CallbackServerContext* ctx) override;

  // Ends every open stream with "etcdserver: server stopped" and refuses new ones.
  void Shutdown();

 private:
  class Stream;
  void Forget(Stream* s);

  Server* const server_;
  WatchHub* const hub_;
  const Options options_;
  Executor writers_;
  absl::Mutex mu_;
  absl::flat_hash_map<Stream*, std::shared_ptr<Stream>> open_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace kvd::server
