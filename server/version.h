// kvd's version. The server reports it in Status responses and `kvd --version`.
#pragma once

#include <string>

namespace kvd::server {

inline constexpr char kVersion[] = "0.1.0";
// The etcd API version kvd's wire protocol is compatible with.
inline constexpr char kApiVersion[] = "3.4";

// "kvd version 0.1.0 (etcd API 3.4)"
inline std::string VersionText() {
  return std::string("kvd version ") + kVersion + " (etcd API " + kApiVersion + ")";
}

}  // namespace kvd::server
