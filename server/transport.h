// PeerTransport: carries Raft messages between the members of one cluster over gRPC
// (proto/peerpb/peer.proto).
//
// Sending: Send() never blocks. Each peer has a bounded queue drained by its own sender thread
// over one long-lived client stream (Peer.Stream); everything queued when the thread wakes goes
// out as one MessageBatch over a PeerChannel (keepalive finds a cut connection dead). A broken
// stream is re-opened with exponential backoff (50 ms doubling
// to 1 s); messages that could not be written, or that found the queue full, are dropped and
// the peer is reported unreachable (Raft retransmits what matters). MsgSnap messages go over
// their own call (Peer.SendSnapshot): the image is read from the SnapshotImages source and
// streamed in chunks with a CRC32C of the whole; the outcome is reported as a snapshot status.
//
// Receiving: service() is registered on the member's peer listener. Every message of a sender
// from the same cluster is converted and handed to the MessageSink on a gRPC thread. A snapshot
// is written to the SnapshotImages sink as it arrives; only after the last chunk checked out is
// its MsgSnap handed to the MessageSink.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "peerpb/peer.grpc.pb.h"
#include "raft/types.h"

namespace kvd::server {

// A channel to another member's peer listener. A connection whose packets stop arriving (a
// network cut) is declared dead by keepalive pings within about 3 s, and dialling is retried at
// least every second, each attempt given 1 s. gRPC's defaults (no keepalive, a 20 s connect
// timeout, reconnect backoff growing to 2 minutes) could keep a healed link dead for that long.
std::shared_ptr<grpc::Channel> PeerChannel(const std::string& host_port);
// Lets PeerChannel's keepalive pings through on the peer listener (gRPC refuses pings more
// frequent than every 5 minutes by default, closing the connection).
void AcceptPeerKeepalive(grpc::ServerBuilder* builder);

// Reads a snapshot image for sending.
class SnapshotImageReader {
 public:
  virtual ~SnapshotImageReader() = default;
  virtual uint64_t TotalBytes() const = 0;
  // Appends up to max_bytes of the image to *out; an empty read means the end.
  virtual absl::Status Read(size_t max_bytes, std::string* out) = 0;
};

// Receives a snapshot image; nothing of it is used until Commit() succeeded.
class SnapshotImageWriter {
 public:
  virtual ~SnapshotImageWriter() = default;
  virtual absl::Status Append(const std::string& bytes) = 0;
  // Makes the received image durable and available for installing the snapshot.
  virtual absl::Status Commit() = 0;
};

// Where snapshot images come from and go to (the server's snapshot store).
class SnapshotImages {
 public:
  virtual ~SnapshotImages() = default;
  virtual absl::StatusOr<std::unique_ptr<SnapshotImageReader>> OpenForSend(
      const raft::Snapshot& snapshot) = 0;
  virtual absl::StatusOr<std::unique_ptr<SnapshotImageWriter>> BeginReceive(
      const raft::Snapshot& snapshot) = 0;
};

struct TransportOptions {
  uint64_t cluster_id = 0;
  raft::NodeId member_id = raft::kNoNode;
  size_t max_queued_messages = 4096;
  size_t snapshot_chunk_bytes = 1 << 20;
  // Called (from transport threads) for received messages and for delivery failures.
  std::function<void(raft::Message)> on_message;
  std::function<void(raft::NodeId)> on_unreachable;
  std::function<void(raft::NodeId, bool failed)> on_snapshot_status;
  SnapshotImages* snapshots = nullptr;  // not owned
  // Answers Peer.MemberStatus: whether member_id ever ran in this cluster.
  std::function<bool(raft::NodeId member_id)> member_started;
};

class PeerTransport {
 public:
  explicit PeerTransport(TransportOptions options);
  ~PeerTransport();  // Stop()s
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  // Starts sending to `id` at `host_port` (e.g. "127.0.0.1:12380"); replaces an earlier address.
  void AddPeer(raft::NodeId id, const std::string& host_port);
  void RemovePeer(raft::NodeId id);

  // Queues messages for their destinations; never blocks.
  void Send(std::vector<raft::Message> messages);

  // The receiving side, to register on the peer gRPC server.
  grpc::Service* service();

  // Stops every sender and waits for their threads. Idempotent.
  void Stop();

 private:
  class Sender;
  class Service;

  void SendSnapshot(raft::Message m);

  const TransportOptions options_;
  std::unique_ptr<Service> service_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::map<raft::NodeId, std::unique_ptr<Sender>> senders_ ABSL_GUARDED_BY(mu_);
  std::map<raft::NodeId, std::string> addresses_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> snapshot_threads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<grpc::ClientContext>> snapshot_calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kvd::server
