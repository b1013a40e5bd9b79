// LeaseRouter: takes keep-alives and TTL queries to the member that can answer them.
//
// Only the leader knows when leases expire (lessor.h). On the leader, a keep-alive renews the
// lease in memory at once. On any other member it is forwarded to the leader over the peer
// network (peerpb.LeaseForwarding): the router queues keep-alives and a background thread sends
// everything queued as one Renew call (up to kMaxRenewalsPerCall IDs, a few calls in flight),
// so thousands of keep-alives per second cost a few peer calls and no Raft proposal at all.
// While there is no leader, or the leader is not ready yet (it has not applied the first entry
// of its term) or has not applied as far as the asking member, a keep-alive is retried until its
// deadline.
//
// "Not found" is only answered once the leader has applied everything it committed (and at
// least what the asking member applied), so a lease just granted through another member is
// never reported missing.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "peerpb/peer.grpc.pb.h"
#include "raft/types.h"

namespace kvd::server {

class Server;

class LeaseRouter {
 public:
  static constexpr size_t kMaxRenewalsPerCall = 1000;
  static constexpr int kMaxCallsInFlight = 4;

  // ttl: the renewed TTL in seconds, or 0 when the lease does not exist (etcd's keep-alive
  // answer); errors: ErrNoLeader or ErrTimeout at the deadline, ErrStopped.
  using RenewDone = absl::AnyInvocable<void(absl::StatusOr<int64_t> ttl)>;

  explicit LeaseRouter(Server* server);
  ~LeaseRouter();  // Stop()s
  LeaseRouter(const LeaseRouter&) = delete;
  LeaseRouter& operator=(const LeaseRouter&) = delete;

  void Start();
  // Fails what is queued with ErrStopped and waits for calls in flight.
  void Stop();

  // Calls done exactly once, possibly before returning. done must not block.
  void Renew(int64_t id, absl::Time deadline, RenewDone done);

  // Blocking (run it off gRPC's threads). Errors: ErrLeaseNotFound, ErrNoLeader, ErrTimeout.
  absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> TimeToLive(
      const etcdserverpb::LeaseTimeToLiveRequest& req, absl::Time deadline);

  // ---- The leader's side of forwarding (peerpb.LeaseForwarding).
  peerpb::LeaseRenewed RenewForPeer(const peerpb::LeaseRenewals& req);
  // Blocking, like TimeToLive.
  peerpb::LeaseTimeToLiveAnswer TimeToLiveForPeer(const peerpb::LeaseTimeToLiveQuery& req);

 private:
  struct Pending {
    int64_t id = 0;
    absl::Time deadline;
    absl::Time retry_at;
    RenewDone done;
  };
  struct Call;
  using Outcome = peerpb::LeaseRenewed::Outcome;

  // One attempt on this member as leader. min_applied: the asking member's applied index.
  Outcome RenewHere(int64_t id, uint64_t min_applied, int64_t* ttl);
  Outcome TimeToLiveHere(int64_t id, bool keys, uint64_t min_applied,
                         etcdserverpb::LeaseTimeToLiveResponse* out);
  // Whether a lease missing here is really missing (this member applied everything it
  // committed, and at least min_applied).
  bool AppliedEnough(uint64_t min_applied) const;
  peerpb::LeaseForwarding::Stub* StubFor(raft::NodeId member) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Requeue(std::vector<Pending> items, absl::Duration delay);
  void Run();
  void Dispatch(std::vector<Pending> items);

  Server* const server_;

  absl::Mutex mu_;
  std::deque<Pending> pending_ ABSL_GUARDED_BY(mu_);
  int calls_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::unique_ptr<peerpb::LeaseForwarding::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace kvd::server
