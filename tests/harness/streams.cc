#include "tests/harness/streams.h"

#include <chrono>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace kvd::testing {

WatchStream::WatchStream(const std::string& endpoint)
    : channel_(grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials())),
      stub_(etcdserverpb::Watch::NewStub(channel_)) {
  stream_ = stub_->Watch(&ctx_);
  reader_ = std::thread([this] { ReadLoop(); });
}

WatchStream::~WatchStream() {
  ctx_.TryCancel();
  reader_.join();
}

void WatchStream::ReadLoop() {
  etcdserverpb::WatchResponse resp;
  while (stream_->Read(&resp)) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(resp));
    resp.Clear();
  }
  grpc::Status st = stream_->Finish();
  absl::MutexLock lock(&mu_);
  ended_ = true;
  status_ = st;
}

bool WatchStream::Create(const etcdserverpb::WatchCreateRequest& req) {
  etcdserverpb::WatchRequest r;
  *r.mutable_create_request() = req;
  absl::MutexLock lock(&write_mu_);
  return stream_->Write(r);
}

bool WatchStream::Cancel(int64_t watch_id) {
  etcdserverpb::WatchRequest r;
  r.mutable_cancel_request()->set_watch_id(watch_id);
  absl::MutexLock lock(&write_mu_);
  return stream_->Write(r);
}

bool WatchStream::RequestProgress() {
  etcdserverpb::WatchRequest r;
  r.mutable_progress_request();
  absl::MutexLock lock(&write_mu_);
  return stream_->Write(r);
}

std::optional<etcdserverpb::WatchResponse> WatchStream::Next(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || ended_; };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (queue_.empty()) return std::nullopt;
  etcdserverpb::WatchResponse r = std::move(queue_.front());
  queue_.pop_front();
  return r;
}

bool WatchStream::ended() const {
  absl::MutexLock lock(&mu_);
  return ended_ && queue_.empty();
}

grpc::Status WatchStream::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

KeepAliveStream::KeepAliveStream(const std::string& endpoint)
    : channel_(grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials())),
      stub_(etcdserverpb::Lease::NewStub(channel_)) {
  ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  stream_ = stub_->LeaseKeepAlive(&ctx_);
}

KeepAliveStream::~KeepAliveStream() {
  ctx_.TryCancel();
  if (!finished_) (void)stream_->Finish();
}

absl::StatusOr<int64_t> KeepAliveStream::KeepAlive(int64_t id) {
  etcdserverpb::LeaseKeepAliveRequest req;
  req.set_id(id);
  if (!stream_->Write(req)) return absl::UnavailableError("keep-alive stream is broken");
  etcdserverpb::LeaseKeepAliveResponse resp;
  if (!stream_->Read(&resp)) {
    grpc::Status st = stream_->Finish();
    finished_ = true;
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  }
  if (resp.id() != id) {
    return absl::InternalError(absl::StrCat("answer for lease ", resp.id(), " instead of ", id));
  }
  return resp.ttl();
}

}  // namespace kvd::testing
