#include "server/identity.h"

#include <openssl/evp.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kvd::server {
namespace {

uint64_t Sha1Prefix(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha1(), nullptr);
  uint64_t id = 0;
  for (int i = 0; i < 8; ++i) id = (id << 8) | digest[i];
  return id;
}

}  // namespace

uint64_t ComputeMemberId(std::vector<std::string> peer_urls, const std::string& cluster_token) {
  std::sort(peer_urls.begin(), peer_urls.end());
  std::string bytes;
  for (const std::string& u : peer_urls) bytes += u;
  bytes += cluster_token;
  return Sha1Prefix(bytes);
}

uint64_t ComputeClusterId(std::vector<uint64_t> member_ids) {
  std::sort(member_ids.begin(), member_ids.end());
  std::string bytes;
  for (uint64_t id : member_ids) {
    for (int shift = 56; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(id >> shift));
  }
  return Sha1Prefix(bytes);
}

std::string IdToString(uint64_t id) { return absl::StrCat(absl::Hex(id)); }

}  // namespace kvd::server
