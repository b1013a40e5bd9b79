// Member and cluster IDs, derived so that every member of a new cluster computes the same ones
// from the same flags, with no coordination.
//
// member ID  = first 8 bytes (big-endian) of SHA-1(sorted peer URLs concatenated, then the
//              cluster token)
// cluster ID = first 8 bytes (big-endian) of SHA-1(the sorted member IDs, 8 bytes big-endian each)
//
// The same rule as etcd's, so the same flags give a cluster whose IDs look like etcd's would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvd::server {

uint64_t ComputeMemberId(std::vector<std::string> peer_urls, const std::string& cluster_token);
uint64_t ComputeClusterId(std::vector<uint64_t> member_ids);

// IDs print as etcd prints them: lower-case hex without leading zeros.
std::string IdToString(uint64_t id);

}  // namespace kvd::server
