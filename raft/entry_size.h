// The size of entries as the Raft core counts it for its byte limits (Config::max_size_per_msg,
// Config::max_committed_size_per_ready, LogStorage::Entries' max_bytes): the bytes of their data.
#pragma once

#include <cstdint>
#include <vector>

#include "raft/types.h"

namespace kvd::raft {

inline uint64_t EntryDataBytes(const Entry& e) { return e.data.size(); }

inline uint64_t EntriesDataBytes(const std::vector<Entry>& entries) {
  uint64_t total = 0;
  for (const Entry& e : entries) total += EntryDataBytes(e);
  return total;
}

// Keeps the longest prefix of entries whose total data size does not exceed max_bytes, but at
// least one entry when there is any.
inline void LimitEntriesSize(std::vector<Entry>& entries, uint64_t max_bytes) {
  if (entries.empty()) return;
  uint64_t total = EntryDataBytes(entries[0]);
  size_t keep = 1;
  for (; keep < entries.size(); ++keep) {
    total += EntryDataBytes(entries[keep]);
    if (total > max_bytes) break;
  }
  entries.resize(keep);
}

}  // namespace kvd::raft
