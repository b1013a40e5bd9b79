// Streaming etcd clients for tests: a watch stream and a lease keep-alive stream. Every read has
// a deadline; nothing blocks forever.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace kvd::testing {

// One Watch stream to one endpoint. A reader thread queues every response; Next() takes them in
// order. Requests may be sent while responses are read.
class WatchStream {
 public:
  explicit WatchStream(const std::string& endpoint);
  ~WatchStream();  // cancels the stream
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  // False when the stream is broken.
  bool Create(const etcdserverpb::WatchCreateRequest& req);
  bool Cancel(int64_t watch_id);
  bool RequestProgress();

  // The next response, or nothing if none arrived within timeout or the stream ended.
  std::optional<etcdserverpb::WatchResponse> Next(absl::Duration timeout);
  // Whether the stream ended (the server closed it or the connection broke), and how.
  bool ended() const;
  grpc::Status status() const;

 private:
  void ReadLoop();

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::Watch::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
      stream_;
  absl::Mutex write_mu_;
  mutable absl::Mutex mu_;
  std::deque<etcdserverpb::WatchResponse> queue_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  std::thread reader_;
};

// One LeaseKeepAlive stream to one endpoint, used synchronously.
class KeepAliveStream {
 public:
  explicit KeepAliveStream(const std::string& endpoint);
  ~KeepAliveStream();
  KeepAliveStream(const KeepAliveStream&) = delete;
  KeepAliveStream& operator=(const KeepAliveStream&) = delete;

  // Sends one keep-alive for id and waits (up to the stream's 10 s deadline) for its answer.
  // Returns the TTL answered (0: no such lease) or the stream's error.
  absl::StatusOr<int64_t> KeepAlive(int64_t id);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::Lease::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::LeaseKeepAliveRequest,
                                           etcdserverpb::LeaseKeepAliveResponse>>
      stream_;
  bool finished_ = false;
};

}  // namespace kvd::testing
