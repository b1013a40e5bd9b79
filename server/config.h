// kvd's configuration: etcd's flag names and meanings, settable three ways.
//
// Precedence, highest first: command-line flags, KVD_* environment variables (the flag name in
// upper case with '-' turned into '_', e.g. KVD_DATA_DIR), the YAML file named by
// --config-file (keys are the flag names, e.g. `data-dir: /var/lib/kvd`), then the defaults.
// With no configuration at all, kvd is a single-member store on 127.0.0.1:2379 (clients) and
// 127.0.0.1:2380 (peers) with its data in ./default.kvd.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvd::server {

// A URL kvd listens on or advertises: http://host:port.
struct Url {
  std::string host;
  uint16_t port = 0;

  // Accepts "http://host:port"; host is an IPv4 address, a bracketed IPv6 address or a name.
  // https and other schemes are refused with a message saying TLS is not supported yet.
  static absl::StatusOr<Url> Parse(absl::string_view text);
  // "http://host:port"
  std::string ToString() const;
  // "host:port", the form gRPC binds and dials.
  std::string HostPort() const;

  bool operator==(const Url&) const = default;
};

enum class ClusterState { kNew, kExisting };

struct ServerConfig {
  std::string name = "default";
  std::string data_dir;  // "<name>.kvd" when not set
  std::vector<Url> listen_client_urls;
  std::vector<Url> advertise_client_urls;
  std::vector<Url> listen_peer_urls;
  std::vector<Url> initial_advertise_peer_urls;
  // Member name -> its peer URLs, in the order given.
  std::map<std::string, std::vector<Url>> initial_cluster;
  ClusterState initial_cluster_state = ClusterState::kNew;
  std::string initial_cluster_token = "kvd-cluster";
  int heartbeat_interval_ms = 100;
  int election_timeout_ms = 1000;
  uint64_t snapshot_count = 100000;
  int64_t quota_backend_bytes = int64_t{2} << 30;
  int64_t max_request_bytes = 1572864;  // 1.5 MiB
  int max_txn_ops = 128;
  std::string log_level = "info";  // debug | info | warn | error
};

// What the command line asked for: run with a configuration, or print something and exit.
struct ParsedCommandLine {
  std::optional<ServerConfig> config;  // empty when `exit_message` is all there is to do
  std::string exit_message;            // --help or --version text
};

// Environment lookup, injectable for tests. Returns nullopt for an unset variable.
using EnvLookup = std::optional<std::string> (*)(const char* name);
std::optional<std::string> ProcessEnv(const char* name);

// Parses flags, environment and config file, fills defaults and validates the whole. An error's
// message is one line that names the setting and says what to fix.
absl::StatusOr<ParsedCommandLine> ParseCommandLine(int argc, const char* const* argv,
                                                   EnvLookup env = ProcessEnv);

// Checks a complete configuration (also used for configurations built in code).
absl::Status Validate(const ServerConfig& config);

}  // namespace kvd::server
