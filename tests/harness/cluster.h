// The cluster harness: real kvd processes on loopback, for every multi-process test
// (integration, compat, chaos).
//
// Start() launches N members on free loopback ports with fresh data directories under one
// temporary directory, each member's output going to <dir>/<name>.log, and returns once every
// member answers and they agree on a leader (or fails with what it saw). Any member can then be
// killed (SIGKILL), stopped (SIGTERM), paused (SIGSTOP), resumed, restarted with its data, or
// wiped. Every wait has a deadline; nothing sleeps a fixed time.
//
// The kvd binary is $KVD_BUILD_DIR/server/kvd (ctest sets KVD_BUILD_DIR), or
// ClusterOptions::kvd_binary. Not thread-safe: one test thread drives a Cluster.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace kvd::testing {

struct ClusterOptions {
  int size = 3;
  std::string kvd_binary;  // default: $KVD_BUILD_DIR/server/kvd
  int heartbeat_interval_ms = 50;
  int election_timeout_ms = 500;
  uint64_t snapshot_count = 100000;
  std::vector<std::string> extra_flags;  // passed to every member
  std::string token = "kvd-test";
  // Keep the data directories and logs after the test (also when KVD_KEEP_CLUSTER=1).
  bool keep = false;
  absl::Duration start_timeout = absl::Seconds(30);
};

struct MemberInfo {
  std::string name;
  uint64_t id = 0;  // as the member reports it, 0 until known
  int client_port = 0;
  int peer_port = 0;
  std::string data_dir;
  std::string log_path;
  pid_t pid = -1;  // -1 when not running
  bool paused = false;
};

class Cluster {
 public:
  static absl::StatusOr<std::unique_ptr<Cluster>> Start(ClusterOptions options);
  ~Cluster();  // SIGKILLs every member still running; removes the directory unless kept

  int size() const { return static_cast<int>(members_.size()); }
  const MemberInfo& member(int i) const { return members_[i]; }
  const std::string& dir() const { return dir_; }

  // "127.0.0.1:port" of member i's client listener, and all of them.
  std::string ClientEndpoint(int i) const;
  std::vector<std::string> ClientEndpoints() const;

  // A stub for member i's client API.
  std::unique_ptr<etcdserverpb::KV::Stub> KV(int i) const;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> Maintenance(int i) const;
  std::unique_ptr<etcdserverpb::Cluster::Stub> ClusterApi(int i) const;

  // Waits until every running, unpaused member reports the same leader, which is itself running;
  // returns its index.
  absl::StatusOr<int> WaitForLeader(absl::Duration timeout = absl::Seconds(15));

  // Member i's Status as it answers it now (short deadline).
  absl::StatusOr<etcdserverpb::StatusResponse> Status(int i) const;

  void Kill(int i);                 // SIGKILL and reap
  absl::StatusOr<int> Stop(int i);  // SIGTERM, wait (deadline 20 s), returns the exit status
  void Pause(int i);                // SIGSTOP
  void Resume(int i);               // SIGCONT
  absl::Status Restart(int i);      // starts member i again with its data directory
  void Wipe(int i);                 // deletes member i's data directory (member must be down)
  // Waits for member i to exit on its own; returns its exit status.
  absl::StatusOr<int> WaitExit(int i, absl::Duration timeout = absl::Seconds(20));
  bool IsRunning(int i) const { return members_[i].pid > 0; }

  // The last lines of member i's log, for failure messages.
  std::string LogTail(int i, int lines = 20) const;

 private:
  Cluster(ClusterOptions options, std::string dir);
  absl::Status Launch(int i);
  std::vector<std::string> Args(int i) const;

  ClusterOptions options_;
  std::string dir_;
  std::string initial_cluster_;
  std::vector<MemberInfo> members_;
};

// Free TCP ports on 127.0.0.1 (bound and released; distinct from each other).
std::vector<int> PickFreePorts(int n);

}  // namespace kvd::testing
