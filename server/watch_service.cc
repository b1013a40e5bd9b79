#include "server/watch_service.h"

#include <deque>
#include <utility>
#include <vector>

#include "server/errors.h"
#include "server/server.h"

namespace kvd::server {

class WatchService::Stream final
    : public grpc::ServerBidiReactor<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>,
      public std::enable_shared_from_this<Stream> {
 public:
  explicit Stream(WatchService* service)
      : service_(service), outbox_(service->options_.outbox, [this] { Wake(); }) {}

  // Called once, right after construction, with the owning pointer.
  void Begin(std::shared_ptr<Stream> self) {
    self_ = std::move(self);
    hub_stream_ = service_->hub_->OpenStream(&outbox_);
    StartRead(&request_);
  }

  // Ends the stream (once): its watchers go, then the RPC finishes with status.
  void End(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (ended_) return;
      ended_ = true;
    }
    service_->hub_->CloseStream(hub_stream_);
    outbox_.Close();
    Finish(status);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // half-closed (the stream stays until cancelled) or broken (OnCancel)
    WatchHub& hub = *service_->hub_;
    switch (request_.request_union_case()) {
      case etcdserverpb::WatchRequest::kCreateRequest:
        hub.Create(hub_stream_, request_.create_request());
        break;
      case etcdserverpb::WatchRequest::kCancelRequest:
        hub.Cancel(hub_stream_, request_.cancel_request().watch_id());
        break;
      case etcdserverpb::WatchRequest::kProgressRequest:
        hub.RequestProgress(hub_stream_);
        break;
      default:
        break;  // etcd ignores requests it does not know
    }
    absl::MutexLock lock(&mu_);
    if (!ended_) StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
    }
    if (!ok) {
      End(grpc::Status(grpc::StatusCode::CANCELLED, "watch stream closed"));
      return;
    }
    WriteNext();
  }

  void OnCancel() override { End(grpc::Status(grpc::StatusCode::CANCELLED, "watch canceled")); }

  void OnDone() override {
    service_->Forget(this);
    std::shared_ptr<Stream> self;
    absl::MutexLock lock(&mu_);
    self.swap(self_);  // released when the last pending wake-up is done with it
  }

 private:
  // The hub queued into the idle outbox: write from a writer thread, not the caller's.
  void Wake() {
    std::shared_ptr<Stream> self;
    {
      absl::MutexLock lock(&mu_);
      if (ended_ || self_ == nullptr) return;
      self = self_;
    }
    service_->writers_.Run([self = std::move(self)] { self->WriteNext(); });
  }

  // Starts writing the next response unless a write is in flight.
  void WriteNext() {
    absl::MutexLock lock(&mu_);
    if (ended_ || writing_) return;
    if (pending_.empty()) {
      std::optional<WatchDelivery> d = outbox_.Take();
      if (!d.has_value()) return;  // idle until the next Wake
      for (etcdserverpb::WatchResponse& r :
           BuildResponses(*d, service_->options_.max_response_bytes)) {
        pending_.push_back(std::move(r));
      }
    }
    current_ = std::move(pending_.front());
    pending_.pop_front();
    service_->server_->FillHeader(current_.mutable_header(), current_.header().revision());
    writing_ = true;
    StartWrite(&current_);
  }

  WatchService* const service_;
  WatchOutbox outbox_;
  uint64_t hub_stream_ = 0;
  etcdserverpb::WatchRequest request_;  // the read in flight

  absl::Mutex mu_;
  std::shared_ptr<Stream> self_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<etcdserverpb::WatchResponse> pending_ ABSL_GUARDED_BY(mu_);  // fragments
  etcdserverpb::WatchResponse current_ ABSL_GUARDED_BY(mu_);              // being written
};

WatchService::WatchService(Server* server, WatchHub* hub, Options options)
    : server_(server), hub_(hub), options_(options), writers_(options.writer_threads) {}

WatchService::~WatchService() { Shutdown(); }

grpc::ServerBidiReactor<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>*
WatchService::Watch(grpc::CallbackServerContext*) {
  auto stream = std::make_shared<Stream>(this);
  bool refused = false;
  {
    absl::MutexLock lock(&mu_);
    refused = shut_down_;
    if (!refused) open_.emplace(stream.get(), stream);
  }
  stream->Begin(stream);
  if (refused) stream->End(ToGrpcStatus(ErrStopped()));
  return stream.get();
}

void WatchService::Forget(Stream* s) {
  absl::MutexLock lock(&mu_);
  open_.erase(s);
}

void WatchService::Shutdown() {
  std::vector<std::shared_ptr<Stream>> open;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    for (auto& [raw, s] : open_) open.push_back(s);
  }
  for (auto& s : open) s->End(ToGrpcStatus(ErrStopped()));
}

}  // namespace kvd::server
