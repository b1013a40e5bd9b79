// Bootstrap: turns a configuration and a data directory into the state a member starts from.
//
// A data directory without a member identity bootstraps a new member: the member and cluster IDs
// are computed from --initial-cluster and --initial-cluster-token (server/identity.h), so every
// member of a new cluster agrees on them without talking; the identity is written to
// <data-dir>/member (atomically) before anything else. A data directory with an identity
// restarts that member: the bootstrap flags are ignored (a line in the log says so), the WAL
// and the store are recovered, and the in-memory log is rebuilt from the WAL:
//
//   - the WAL's latest snapshot record s (if any) becomes the log's snapshot, else the bootstrap
//     membership is the log's starting configuration;
//   - the entries after s follow; Raft hands the committed ones out again (applied = s) and the
//     apply path skips those the store already holds, so conf changes reach Raft again;
//   - the commit index is raised to the store's applied index when the WAL's last sync lost it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/memory_storage.h"
#include "server/config.h"
#include "serverpb/request.pb.h"
#include "storage/data_dir.h"
#include "storage/fs/file_system.h"
#include "storage/mvcc/store.h"
#include "storage/wal/wal.h"

namespace kvd::server {

struct BootstrappedMember {
  std::unique_ptr<storage::DataDir> data_dir;
  serverpb::MemberIdentity identity;
  std::unique_ptr<fs::FileSystem> fs;
  std::unique_ptr<mvcc::Store> store;
  std::unique_ptr<wal::Wal> wal;
  std::unique_ptr<raft::MemoryStorage> log;
  // Raft's Config::applied.
  raft::Index applied = 0;
  // The membership and Raft configuration as of the store's applied index.
  serverpb::Membership membership;
  raft::ConfState conf_state;
  bool restarted = false;
  std::vector<std::string> notices;  // for the log
};

absl::StatusOr<BootstrappedMember> Bootstrap(const ServerConfig& config);

// The Raft configuration a membership describes.
raft::ConfState ConfStateOf(const serverpb::Membership& membership);

}  // namespace kvd::server
