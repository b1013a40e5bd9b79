#include "server/config.h"

#include <cstdlib>
#include <functional>
#include <set>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/version.h"
#include "yaml-cpp/yaml.h"

namespace kvd::server {
namespace {

absl::Status Invalid(absl::string_view setting, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("--", setting, ": ", what));
}

absl::StatusOr<std::vector<Url>> ParseUrlList(absl::string_view setting, absl::string_view text) {
  std::vector<Url> urls;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    absl::StatusOr<Url> url = Url::Parse(absl::StripAsciiWhitespace(part));
    if (!url.ok()) return Invalid(setting, url.status().message());
    urls.push_back(*url);
  }
  if (urls.empty()) return Invalid(setting, "needs at least one URL");
  return urls;
}

template <typename Int>
absl::Status ParseInt(absl::string_view setting, absl::string_view text, Int min, Int* out) {
  Int v;
  if (!absl::SimpleAtoi(text, &v)) {
    return Invalid(setting, absl::StrCat("'", text, "' is not a whole number"));
  }
  if (v < min) return Invalid(setting, absl::StrCat("must be at least ", min, ", got ", v));
  *out = v;
  return absl::OkStatus();
}

// One setting: its etcd flag name, its help text, and how a textual value is stored.
struct Setting {
  const char* name;
  const char* help;
  std::function<absl::Status(absl::string_view, ServerConfig&)> apply;
};

std::vector<Setting> Settings() {
  return {
      {"name", "Human-readable name of this member (default: default)",
       [](absl::string_view v, ServerConfig& c) {
         if (v.empty()) return Invalid("name", "must not be empty");
         c.name = std::string(v);
         return absl::OkStatus();
       }},
      {"data-dir", "Path to the data directory (default: <name>.kvd)",
       [](absl::string_view v, ServerConfig& c) {
         if (v.empty()) return Invalid("data-dir", "must not be empty");
         c.data_dir = std::string(v);
         return absl::OkStatus();
       }},
      {"listen-client-urls",
       "URLs to listen on for client traffic (default: http://127.0.0.1:2379)",
       [](absl::string_view v, ServerConfig& c) {
         absl::StatusOr<std::vector<Url>> u = ParseUrlList("listen-client-urls", v);
         if (u.ok()) c.listen_client_urls = *u;
         return u.status();
       }},
      {"advertise-client-urls",
       "Client URLs advertised to the cluster (default: the listen-client-urls)",
       [](absl::string_view v, ServerConfig& c) {
         absl::StatusOr<std::vector<Url>> u = ParseUrlList("advertise-client-urls", v);
         if (u.ok()) c.advertise_client_urls = *u;
         return u.status();
       }},
      {"listen-peer-urls", "URLs to listen on for peer traffic (default: http://127.0.0.1:2380)",
       [](absl::string_view v, ServerConfig& c) {
         absl::StatusOr<std::vector<Url>> u = ParseUrlList("listen-peer-urls", v);
         if (u.ok()) c.listen_peer_urls = *u;
         return u.status();
       }},
      {"initial-advertise-peer-urls",
       "This member's peer URLs as the other members reach them (default: the listen-peer-urls)",
       [](absl::string_view v, ServerConfig& c) {
         absl::StatusOr<std::vector<Url>> u = ParseUrlList("initial-advertise-peer-urls", v);
         if (u.ok()) c.initial_advertise_peer_urls = *u;
         return u.status();
       }},
      {"initial-cluster",
       "Every member at bootstrap, as name=peerURL,... (default: "
       "<name>=<initial-advertise-peer-urls>)",
       [](absl::string_view v, ServerConfig& c) {
         std::map<std::string, std::vector<Url>> cluster;
         for (absl::string_view item : absl::StrSplit(v, ',', absl::SkipWhitespace())) {
           std::pair<absl::string_view, absl::string_view> kv =
               absl::StrSplit(absl::StripAsciiWhitespace(item), absl::MaxSplits('=', 1));
           if (kv.first.empty() || kv.second.empty()) {
             return Invalid("initial-cluster",
                            absl::StrCat("'", item, "' is not of the form name=http://host:port"));
           }
           absl::StatusOr<Url> url = Url::Parse(kv.second);
           if (!url.ok()) return Invalid("initial-cluster", url.status().message());
           cluster[std::string(kv.first)].push_back(*url);
         }
         if (cluster.empty()) return Invalid("initial-cluster", "needs at least one member");
         c.initial_cluster = std::move(cluster);
         return absl::OkStatus();
       }},
      {"initial-cluster-state",
       "new (bootstrap a new cluster) or existing (join or restart a member); default: new",
       [](absl::string_view v, ServerConfig& c) {
         if (v == "new") {
           c.initial_cluster_state = ClusterState::kNew;
         } else if (v == "existing") {
           c.initial_cluster_state = ClusterState::kExisting;
         } else {
           return Invalid("initial-cluster-state",
                          absl::StrCat("'", v, "' is neither 'new' nor 'existing'"));
         }
         return absl::OkStatus();
       }},
      {"initial-cluster-token",
       "Token that makes the IDs of this cluster differ from other clusters' (default: "
       "kvd-cluster)",
       [](absl::string_view v, ServerConfig& c) {
         if (v.empty()) return Invalid("initial-cluster-token", "must not be empty");
         c.initial_cluster_token = std::string(v);
         return absl::OkStatus();
       }},
      {"heartbeat-interval", "Time between leader heartbeats, in milliseconds (default: 100)",
       [](absl::string_view v, ServerConfig& c) {
         return ParseInt("heartbeat-interval", v, 1, &c.heartbeat_interval_ms);
       }},
      {"election-timeout",
       "Time without a leader before a member campaigns, in milliseconds (default: 1000)",
       [](absl::string_view v, ServerConfig& c) {
         return ParseInt("election-timeout", v, 1, &c.election_timeout_ms);
       }},
      {"snapshot-count",
       "Applied entries between two snapshots (and log compactions) (default: 100000)",
       [](absl::string_view v, ServerConfig& c) {
         return ParseInt<uint64_t>("snapshot-count", v, 1, &c.snapshot_count);
       }},
      {"quota-backend-bytes",
       "Store size in bytes above which writes that add data are refused until space is "
       "freed\n(delete, compact, defrag); 0 means the default, 2 GiB",
       [](absl::string_view v, ServerConfig& c) {
         absl::Status st = ParseInt<int64_t>("quota-backend-bytes", v, 0, &c.quota_backend_bytes);
         if (st.ok() && c.quota_backend_bytes == 0) c.quota_backend_bytes = int64_t{2} << 30;
         return st;
       }},
      {"max-request-bytes", "Largest client request accepted, in bytes (default: 1572864)",
       [](absl::string_view v, ServerConfig& c) {
         return ParseInt<int64_t>("max-request-bytes", v, 1, &c.max_request_bytes);
       }},
      {"max-txn-ops", "Most operations allowed in one transaction (default: 128)",
       [](absl::string_view v, ServerConfig& c) {
         return ParseInt("max-txn-ops", v, 1, &c.max_txn_ops);
       }},
      {"log-level", "debug, info, warn or error (default: info)",
       [](absl::string_view v, ServerConfig& c) {
         if (v != "debug" && v != "info" && v != "warn" && v != "error") {
           return Invalid("log-level",
                          absl::StrCat("'", v, "' is not one of debug, info, warn, error"));
         }
         c.log_level = std::string(v);
         return absl::OkStatus();
       }},
  };
}

std::string EnvName(absl::string_view flag) {
  std::string env = absl::StrCat("KVD_", flag);
  for (char& ch : env) ch = ch == '-' ? '_' : absl::ascii_toupper(ch);
  return env;
}

// Reads a YAML config file into setting name -> textual value. Lists become comma-separated.
absl::StatusOr<std::map<std::string, std::string>> ReadConfigFile(
    const std::string& path, const std::vector<Setting>& settings) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return absl::InvalidArgumentError(absl::StrCat("--config-file: cannot read '", path, "'"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("--config-file: '", path, "' is not valid YAML: ", e.what()));
  }
  std::map<std::string, std::string> values;
  if (root.IsNull()) return values;
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--config-file: '", path, "' must hold a map of setting: value"));
  }
  std::set<std::string> known;
  for (const Setting& s : settings) known.insert(s.name);
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    if (!known.contains(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--config-file: '", path, "' has unknown setting '", key, "'"));
    }
    const YAML::Node& node = item.second;
    if (node.IsSequence()) {
      std::vector<std::string> parts;
      for (const auto& element : node) parts.push_back(element.as<std::string>());
      values[key] = absl::StrJoin(parts, ",");
    } else if (node.IsScalar()) {
      values[key] = node.as<std::string>();
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--config-file: '", path, "': setting '", key,
                                                     "' must be a value or a list"));
    }
  }
  return values;
}

void FillDefaults(ServerConfig& c) {
  if (c.data_dir.empty()) c.data_dir = c.name + ".kvd";
  if (c.listen_client_urls.empty()) c.listen_client_urls = {Url{"127.0.0.1", 2379}};
  if (c.advertise_client_urls.empty()) c.advertise_client_urls = c.listen_client_urls;
  if (c.listen_peer_urls.empty()) c.listen_peer_urls = {Url{"127.0.0.1", 2380}};
  if (c.initial_advertise_peer_urls.empty()) c.initial_advertise_peer_urls = c.listen_peer_urls;
  if (c.initial_cluster.empty()) c.initial_cluster[c.name] = c.initial_advertise_peer_urls;
}

std::string UrlsText(const std::vector<Url>& urls) {
  std::vector<std::string> parts;
  for (const Url& u : urls) parts.push_back(u.ToString());
  return absl::StrJoin(parts, ",");
}

}  // namespace

absl::StatusOr<Url> Url::Parse(absl::string_view text) {
  absl::string_view rest = text;
  if (absl::ConsumePrefix(&rest, "https://") || absl::ConsumePrefix(&rest, "unix://") ||
      absl::ConsumePrefix(&rest, "unixs://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "': only http:// URLs are supported (no TLS or unix sockets yet)"));
  }
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a URL of the form http://host:port"));
  }
  absl::ConsumeSuffix(&rest, "/");
  absl::string_view host;
  absl::string_view port;
  if (absl::StartsWith(rest, "[")) {
    const size_t close = rest.find(']');
    if (close == absl::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("'", text, "' has no port"));
    }
    host = rest.substr(0, close + 1);
    port = rest.substr(close + 2);
  } else {
    const size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("'", text, "' has no port"));
    }
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty() || host.find_first_of("/?#@ ") != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' has no valid host"));
  }
  uint32_t p = 0;
  if (!absl::SimpleAtoi(port, &p) || p == 0 || p > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' has no valid port (1-65535)"));
  }
  return Url{std::string(host), static_cast<uint16_t>(p)};
}

std::string Url::ToString() const { return absl::StrCat("http://", HostPort()); }
std::string Url::HostPort() const { return absl::StrCat(host, ":", port); }

std::optional<std::string> ProcessEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

absl::Status Validate(const ServerConfig& c) {
  auto it = c.initial_cluster.find(c.name);
  if (it == c.initial_cluster.end()) {
    return Invalid("initial-cluster",
                   absl::StrCat("has no member named '", c.name, "' (this member's --name); add ",
                                c.name, "=<peer URL> to it or fix --name"));
  }
  std::set<std::string> advertised;
  for (const Url& u : c.initial_advertise_peer_urls) advertised.insert(u.ToString());
  std::set<std::string> listed;
  for (const Url& u : it->second) listed.insert(u.ToString());
  if (advertised != listed) {
    return Invalid("initial-advertise-peer-urls",
                   absl::StrCat(UrlsText(c.initial_advertise_peer_urls), " differs from ",
                                UrlsText(it->second), ", the entry of '", c.name,
                                "' in --initial-cluster; make them equal"));
  }
  std::map<std::string, std::string> owner;
  for (const auto& [name, urls] : c.initial_cluster) {
    for (const Url& u : urls) {
      auto [pos, inserted] = owner.emplace(u.ToString(), name);
      if (!inserted) {
        return Invalid("initial-cluster", absl::StrCat("members '", pos->second, "' and '", name,
                                                       "' share the peer URL ", u.ToString()));
      }
    }
  }
  if (c.election_timeout_ms < 5 * c.heartbeat_interval_ms) {
    return Invalid(
        "election-timeout",
        absl::StrCat(c.election_timeout_ms, " ms must be at least 5 times --heartbeat-interval (",
                     c.heartbeat_interval_ms, " ms)"));
  }
  if (c.election_timeout_ms > 50000) {
    return Invalid("election-timeout",
                   absl::StrCat(c.election_timeout_ms, " ms is above the maximum of 50000 ms"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ParsedCommandLine> ParseCommandLine(int argc, const char* const* argv,
                                                   EnvLookup env) {
  const std::vector<Setting> settings = Settings();
  CLI::App app{
      "kvd: a Raft-replicated key-value store that speaks etcd's v3 API.\n"
      "Every flag can also be set as a KVD_* environment variable (e.g. KVD_DATA_DIR)\n"
      "or in the YAML file given by --config-file; flags win over the environment,\n"
      "the environment over the file.",
      "kvd"};
  app.set_version_flag("--version", VersionText());
  app.get_formatter()->column_width(34);
  std::map<std::string, std::string> flag_values;
  std::map<std::string, CLI::Option*> options;
  for (const Setting& s : settings) {
    options[s.name] = app.add_option(absl::StrCat("--", s.name), flag_values[s.name], s.help);
  }
  std::string config_file;
  CLI::Option* config_opt = app.add_option("--config-file", config_file,
                                           "YAML file of settings (keys are the flag names)");

  std::vector<std::string> args;
  for (int i = argc - 1; i > 0; --i) args.emplace_back(argv[i]);
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    return ParsedCommandLine{std::nullopt, app.help()};
  } catch (const CLI::CallForVersion&) {
    return ParsedCommandLine{std::nullopt, VersionText() + "\n"};
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(absl::StrCat(e.what(), " (see kvd --help)"));
  }

  if (config_opt->count() == 0) {
    if (std::optional<std::string> v = env("KVD_CONFIG_FILE")) config_file = *v;
  }
  std::map<std::string, std::string> file_values;
  if (!config_file.empty()) {
    absl::StatusOr<std::map<std::string, std::string>> read = ReadConfigFile(config_file, settings);
    if (!read.ok()) return read.status();
    file_values = *std::move(read);
  }

  ServerConfig config;
  for (const Setting& s : settings) {
    std::optional<std::string> value;
    if (options[s.name]->count() > 0) {
      value = flag_values[s.name];
    } else if (std::optional<std::string> v = env(EnvName(s.name).c_str())) {
      value = *v;
    } else if (auto f = file_values.find(s.name); f != file_values.end()) {
      value = f->second;
    }
    if (value) {
      if (absl::Status st = s.apply(*value, config); !st.ok()) return st;
    }
  }
  FillDefaults(config);
  if (absl::Status st = Validate(config); !st.ok()) return st;
  return ParsedCommandLine{std::move(config), ""};
}

}  // namespace kvd::server
