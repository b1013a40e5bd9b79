// Server: one kvd member, wired together.
//
//   client gRPC (services) ──► Propose ──► RaftLoop ──► WAL
//                                            │  ▲
//                         PeerTransport ◄────┘  └──── PeerTransport (peer gRPC)
//                                            │
//                                  committed entries
//                                            ▼
//                         Applier ──► MVCC store ──► waiters answered (WaitRegistry)
//                                            │
//                     LinearizableReads ◄── applied index, read states
//
// Start() binds every listener before it returns, so a port in use or an unusable data directory
// is an error from Start(), not a later crash. Stop() is graceful: client listeners stop
// accepting, requests in flight finish (or time out), then the threads stop in dependency
// order and the WAL is closed.
//
// Thread-safety: the request-path methods (Propose, AwaitLinearizable, accessors) may be called
// from any thread once Start() returned.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/applier.h"
#include "server/bootstrap.h"
#include "server/config.h"
#include "server/executor.h"
#include "server/linearizable_reads.h"
#include "server/raft_loop.h"
#include "server/snapshot_images.h"
#include "server/transport.h"
#include "server/wait.h"
#include "serverpb/request.pb.h"

namespace kvd::server {

class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerConfig& config);
  ~Server();  // Stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void Stop();

  // ---- For the API services.

  const ServerConfig& config() const { return config_; }
  uint64_t member_id() const { return member_id_; }
  uint64_t cluster_id() const { return cluster_id_; }
  mvcc::Store& store() { return *member_.store; }
  Executor& readers() { return *readers_; }

  // Fills cluster, member, term and the given revision.
  void FillHeader(etcdserverpb::ResponseHeader* header, int64_t revision) const;

  // Proposes a write and calls done once it is applied (result of applying it), or failed:
  // too large, no leader, timed out (after the request timeout), or the server stopping.
  void Propose(serverpb::Request request, Completion done);

  // Calls ready(OK) once a linearizable read issued now may run against the store.
  void AwaitLinearizable(LinearizableReads::Ready ready);

  raft::Status RaftStatus() const { return raft_->status(); }
  raft::NodeId leader() const { return leader_.load(); }
  raft::Term term() const { return term_.load(); }
  uint64_t applied_index() const { return applier_->applied_index(); }
  serverpb::Membership membership() const { return applier_->membership(); }
  // Hands leadership to transferee; returns once it is leader, or the error.
  absl::Status MoveLeader(raft::NodeId transferee, absl::Time deadline);
  // Bytes the store holds (table files and memtables).
  int64_t db_size_bytes() const;
  // Whether the store holds more than --quota-backend-bytes: writes that add data are refused
  // (etcd's NOSPACE alarm, raised and cleared with the size).
  bool OverQuota() const;
  // Reclaims the store's free space (RocksDB compaction of every level).
  absl::Status DefragmentStore();
  absl::Time request_deadline() const { return absl::Now() + request_timeout_; }

 private:
  explicit Server(ServerConfig config);
  absl::Status Init();
  void PublishAttributes();

  const ServerConfig config_;
  absl::Duration request_timeout_;
  BootstrappedMember member_;
  uint64_t member_id_ = 0;
  uint64_t cluster_id_ = 0;
  std::atomic<raft::NodeId> leader_{raft::kNoNode};
  std::atomic<raft::Term> term_{0};

  std::unique_ptr<RequestIdGenerator> ids_;
  std::unique_ptr<WaitRegistry> waits_;
  std::unique_ptr<Executor> readers_;
  std::unique_ptr<SnapshotImages> snapshot_images_;
  std::unique_ptr<PeerTransport> transport_;
  std::unique_ptr<Applier> applier_;
  std::unique_ptr<RaftLoop> raft_;
  std::unique_ptr<LinearizableReads> reads_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> peer_server_;
  std::unique_ptr<grpc::Server> client_server_;
  std::thread publisher_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
};

}  // namespace kvd::server
