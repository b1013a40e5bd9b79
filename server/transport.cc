#include "server/transport.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/raft_codec.h"
#include "spdlog/spdlog.h"
#include "storage/wal/crc32c.h"

namespace kvd::server {
namespace {

constexpr absl::Duration kMinBackoff = absl::Milliseconds(50);
constexpr absl::Duration kMaxBackoff = absl::Seconds(1);
// Upper bound on the bytes of entries gathered into one MessageBatch.
constexpr size_t kMaxBatchBytes = 4 << 20;

size_t PayloadBytes(const raft::Message& m) {
  size_t n = m.context.size() + m.snapshot.data.size();
  for (const raft::Entry& e : m.entries) n += e.data.size();
  return n;
}

constexpr int kKeepaliveTimeMs = 1000;
constexpr int kKeepaliveTimeoutMs = 2000;
constexpr int kDialTimeoutMs = 1000;

}  // namespace

std::shared_ptr<grpc::Channel> PeerChannel(const std::string& host_port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kDialTimeoutMs);  // gRPC's minimum dial time
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(host_port, grpc::InsecureChannelCredentials(), args);
}

void AcceptPeerKeepalive(grpc::ServerBuilder* builder) {
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                              kKeepaliveTimeMs / 2);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
}

// One peer's outbound stream: a bounded queue and the thread that drains it.
class PeerTransport::Sender {
 public:
  Sender(const TransportOptions& options, raft::NodeId peer, std::string host_port)
      : options_(options), peer_(peer), host_port_(std::move(host_port)) {
    thread_ = std::thread([this] { Run(); });
  }

  ~Sender() { Stop(); }

  void Enqueue(raft::Message m) {
    bool dropped = false;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      if (queue_.size() >= options_.max_queued_messages) {
        dropped = true;
      } else {
        queue_.push_back(std::move(m));
      }
    }
    if (dropped && options_.on_unreachable) options_.on_unreachable(peer_);
  }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
      if (context_) context_->TryCancel();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    auto stub = peerpb::Peer::NewStub(PeerChannel(host_port_));
    absl::Duration backoff = kMinBackoff;
    std::unique_ptr<grpc::ClientWriter<peerpb::MessageBatch>> writer;
    peerpb::StreamClosed closed;
    while (true) {
      std::vector<raft::Message> batch;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Sender* s) { return s->stopped_ || !s->queue_.empty(); }, this));
        if (stopped_) break;
        size_t bytes = 0;
        while (!queue_.empty() && (batch.empty() || bytes < kMaxBatchBytes)) {
          bytes += PayloadBytes(queue_.front());
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      if (!writer) {
        // Opening the call may wait for a connection: never under mu_, which Enqueue takes.
        auto ctx = std::make_shared<grpc::ClientContext>();
        {
          absl::MutexLock lock(&mu_);
          if (stopped_) break;
          context_ = ctx;
        }
        writer = stub->Stream(ctx.get(), &closed);
      }
      peerpb::MessageBatch out;
      out.mutable_sender()->set_cluster_id(options_.cluster_id);
      out.mutable_sender()->set_member_id(options_.member_id);
      for (const raft::Message& m : batch) codec::ToProto(m, out.add_messages());
      if (writer->Write(out)) {
        backoff = kMinBackoff;
        continue;
      }
      // The stream broke: what was in flight is lost; Raft will retransmit.
      grpc::Status status = writer->Finish();
      writer.reset();
      spdlog::debug("peer stream to {:x} at {} broke: {}", peer_, host_port_,
                    status.error_message());
      if (options_.on_unreachable) options_.on_unreachable(peer_);
      absl::MutexLock lock(&mu_);
      context_.reset();
      // Drop what queued up meanwhile too: it is as stale as what was lost.
      queue_.clear();
      mu_.AwaitWithTimeout(absl::Condition(&stopped_), backoff);
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
    if (writer) {
      writer->WritesDone();
      writer->Finish();
    }
  }

  const TransportOptions& options_;
  const raft::NodeId peer_;
  const std::string host_port_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<raft::Message> queue_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<grpc::ClientContext> context_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// The receiving side: one reactor per inbound stream.
class PeerTransport::Service : public peerpb::Peer::CallbackService {
 public:
  explicit Service(const TransportOptions& options) : options_(options) {}

  grpc::ServerReadReactor<peerpb::MessageBatch>* Stream(grpc::CallbackServerContext*,
                                                        peerpb::StreamClosed*) override {
    return new MessageReader(options_);
  }

  grpc::ServerReadReactor<peerpb::SnapshotChunk>* SendSnapshot(
      grpc::CallbackServerContext*, peerpb::SnapshotInstalled* reply) override {
    return new SnapshotReader(options_, reply);
  }

  grpc::ServerUnaryReactor* MemberStatus(grpc::CallbackServerContext* ctx,
                                         const peerpb::MemberStatusRequest* req,
                                         peerpb::MemberStatusResponse* resp) override {
    resp->set_cluster_id(options_.cluster_id);
    resp->set_started(options_.member_started && options_.member_started(req->member_id()));
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  static grpc::Status CheckSender(const TransportOptions& options, const peerpb::Sender& sender) {
    if (sender.cluster_id() != options.cluster_id) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          absl::StrCat("cluster ID mismatch: this member belongs to cluster ",
                                       absl::Hex(options.cluster_id), ", the sender to ",
                                       absl::Hex(sender.cluster_id())));
    }
    return grpc::Status::OK;
  }

  class MessageReader : public grpc::ServerReadReactor<peerpb::MessageBatch> {
   public:
    explicit MessageReader(const TransportOptions& options) : options_(options) {
      StartRead(&batch_);
    }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status::OK);
        return;
      }
      if (grpc::Status st = CheckSender(options_, batch_.sender()); !st.ok()) {
        spdlog::warn("refused peer stream from member {:x}: {}", batch_.sender().member_id(),
                     st.error_message());
        Finish(st);
        return;
      }
      for (raftpb::Message& pb : *batch_.mutable_messages()) {
        absl::StatusOr<raft::Message> m = codec::FromProto(std::move(pb));
        if (!m.ok()) {
          spdlog::warn("dropped a malformed message from member {:x}: {}",
                       batch_.sender().member_id(), m.status().ToString());
          continue;
        }
        if (m->to != options_.member_id) continue;
        options_.on_message(*std::move(m));
      }
      batch_.Clear();
      StartRead(&batch_);
    }
    void OnDone() override { delete this; }

   private:
    const TransportOptions& options_;
    peerpb::MessageBatch batch_;
  };

  class SnapshotReader : public grpc::ServerReadReactor<peerpb::SnapshotChunk> {
   public:
    SnapshotReader(const TransportOptions& options, peerpb::SnapshotInstalled* reply)
        : options_(options), reply_(reply) {
      StartRead(&chunk_);
    }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Fail("the snapshot stream ended before its last chunk");
        return;
      }
      if (grpc::Status st = CheckSender(options_, chunk_.sender()); !st.ok()) {
        Finish(st);
        return;
      }
      if (!writer_) {
        if (!chunk_.has_message()) return Fail("the first snapshot chunk carries no message");
        absl::StatusOr<raft::Message> m = codec::FromProto(std::move(*chunk_.mutable_message()));
        if (!m.ok() || m->type != raft::MessageType::kSnap) {
          return Fail("the first snapshot chunk carries no MsgSnap");
        }
        message_ = *std::move(m);
        total_ = chunk_.total_bytes();
        absl::StatusOr<std::unique_ptr<SnapshotImageWriter>> w =
            options_.snapshots->BeginReceive(message_.snapshot);
        if (!w.ok()) return Fail(w.status().ToString());
        writer_ = *std::move(w);
      }
      if (chunk_.offset() != received_) {
        return Fail(
            absl::StrCat("snapshot chunk at offset ", chunk_.offset(), ", expected ", received_));
      }
      crc_ = wal::Crc32c(crc_, chunk_.data());
      received_ += chunk_.data().size();
      if (absl::Status st = writer_->Append(chunk_.data()); !st.ok()) {
        return Fail(st.ToString());
      }
      if (chunk_.last()) {
        if (received_ != total_) {
          return Fail(absl::StrCat("snapshot has ", received_, " bytes, announced ", total_));
        }
        if (chunk_.crc32c() != crc_) return Fail("snapshot checksum mismatch");
        if (absl::Status st = writer_->Commit(); !st.ok()) return Fail(st.ToString());
        spdlog::info("received snapshot at index {} ({} bytes) from member {:x}",
                     message_.snapshot.metadata.index, received_, message_.from);
        if (message_.to == options_.member_id) options_.on_message(std::move(message_));
        reply_->set_ok(true);
        Finish(grpc::Status::OK);
        return;
      }
      chunk_.Clear();
      StartRead(&chunk_);
    }
    void OnDone() override { delete this; }

   private:
    void Fail(const std::string& why) {
      spdlog::warn("snapshot receive failed: {}", why);
      reply_->set_ok(false);
      reply_->set_error(why);
      Finish(grpc::Status::OK);
    }

    const TransportOptions& options_;
    peerpb::SnapshotInstalled* reply_;
    peerpb::SnapshotChunk chunk_;
    raft::Message message_;
    std::unique_ptr<SnapshotImageWriter> writer_;
    uint64_t total_ = 0;
    uint64_t received_ = 0;
    uint32_t crc_ = 0;
  };

  const TransportOptions& options_;
};

PeerTransport::PeerTransport(TransportOptions options)
    : options_(std::move(options)), service_(std::make_unique<Service>(options_)) {}

PeerTransport::~PeerTransport() { Stop(); }

void PeerTransport::AddPeer(raft::NodeId id, const std::string& host_port) {
  std::unique_ptr<Sender> replaced;  // joined after mu_ is released
  absl::MutexLock lock(&mu_);
  if (stopped_ || id == options_.member_id) return;
  auto it = addresses_.find(id);
  if (it != addresses_.end() && it->second == host_port) return;
  addresses_[id] = host_port;
  replaced = std::move(senders_[id]);
  senders_[id] = std::make_unique<Sender>(options_, id, host_port);
}

void PeerTransport::RemovePeer(raft::NodeId id) {
  std::unique_ptr<Sender> old;
  {
    absl::MutexLock lock(&mu_);
    auto it = senders_.find(id);
    if (it == senders_.end()) return;
    old = std::move(it->second);
    senders_.erase(it);
    addresses_.erase(id);
  }
}

void PeerTransport::Send(std::vector<raft::Message> messages) {
  for (raft::Message& m : messages) {
    if (m.type == raft::MessageType::kSnap) {
      SendSnapshot(std::move(m));
      continue;
    }
    bool unknown = false;
    {
      absl::MutexLock lock(&mu_);
      auto it = senders_.find(m.to);
      if (it == senders_.end()) {
        unknown = true;
      } else {
        it->second->Enqueue(std::move(m));
      }
    }
    if (unknown && options_.on_unreachable) options_.on_unreachable(m.to);
  }
}

void PeerTransport::SendSnapshot(raft::Message m) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  auto addr = addresses_.find(m.to);
  if (addr == addresses_.end()) return;
  auto ctx = std::make_shared<grpc::ClientContext>();
  snapshot_calls_.push_back(ctx);
  snapshot_threads_.emplace_back([this, m = std::move(m), ctx, host_port = addr->second]() {
    const raft::NodeId to = m.to;
    const uint64_t index = m.snapshot.metadata.index;
    auto fail = [&](const std::string& why) {
      spdlog::warn("sending snapshot at index {} to member {:x} failed: {}", index, to, why);
      if (options_.on_snapshot_status) options_.on_snapshot_status(to, true);
    };
    absl::StatusOr<std::unique_ptr<SnapshotImageReader>> reader =
        options_.snapshots->OpenForSend(m.snapshot);
    if (!reader.ok()) return fail(reader.status().ToString());
    auto stub = peerpb::Peer::NewStub(PeerChannel(host_port));
    peerpb::SnapshotInstalled reply;
    std::unique_ptr<grpc::ClientWriter<peerpb::SnapshotChunk>> writer =
        stub->SendSnapshot(ctx.get(), &reply);
    peerpb::SnapshotChunk chunk;
    chunk.mutable_sender()->set_cluster_id(options_.cluster_id);
    chunk.mutable_sender()->set_member_id(options_.member_id);
    codec::ToProto(m, chunk.mutable_message());
    chunk.set_total_bytes((*reader)->TotalBytes());
    uint64_t offset = 0;
    uint32_t crc = 0;
    while (true) {
      std::string data;
      if (absl::Status st = (*reader)->Read(options_.snapshot_chunk_bytes, &data); !st.ok()) {
        writer->WritesDone();
        writer->Finish();
        return fail(st.ToString());
      }
      crc = wal::Crc32c(crc, data);
      const bool last = data.empty() || offset + data.size() >= (*reader)->TotalBytes();
      chunk.set_offset(offset);
      offset += data.size();
      chunk.set_data(std::move(data));
      chunk.set_last(last);
      if (last) chunk.set_crc32c(crc);
      if (!writer->Write(chunk)) break;
      if (last) break;
      chunk.Clear();
      chunk.mutable_sender()->set_cluster_id(options_.cluster_id);
      chunk.mutable_sender()->set_member_id(options_.member_id);
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    if (!status.ok()) return fail(status.error_message());
    if (!reply.ok()) return fail(reply.error());
    spdlog::info("sent snapshot at index {} ({} bytes) to member {:x}", index, offset, to);
    if (options_.on_snapshot_status) options_.on_snapshot_status(to, false);
  });
}

grpc::Service* PeerTransport::service() { return service_.get(); }

void PeerTransport::Stop() {
  std::map<raft::NodeId, std::unique_ptr<Sender>> senders;
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    senders.swap(senders_);
    threads.swap(snapshot_threads_);
    for (auto& ctx : snapshot_calls_) ctx->TryCancel();
  }
  senders.clear();
  for (std::thread& t : threads) t.join();
}

}  // namespace kvd::server
