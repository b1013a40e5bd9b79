// ReadWal: reads a WAL directory and decides, by the recovery rules in storage/wal/wal.h, what
// log it holds, or refuses. It changes nothing on disk: the torn tail it finds comes back as
// repairs for Wal::Open to make. It reads each segment from the disk, not from the page cache
// (FileSystem::EvictCachedPages first), so what it returns is durable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/types.h"
#include "storage/fs/file_system.h"
#include "storage/wal/log_state.h"

namespace kvd::wal {

struct SegmentOnDisk {
  uint64_t seq = 0;
  std::string path;
  raft::Index first_index = 0;  // from its segment start record
  uint64_t end_offset = 0;      // where its last complete batch ends
  uint64_t batch_count = 0;
};

// A byte range of a segment to overwrite with zeros before writing: a torn write.
struct ZeroRepair {
  std::string path;
  uint64_t from = 0;
  uint64_t to = 0;
};

struct WalContents {
  bool empty_dir = false;  // no segment at all
  uint64_t wal_id = 0;
  LogState state;                       // started() only if some segment holds a batch
  std::vector<raft::Entry> entries;     // state.first_index() .. state.last_index()
  std::vector<SegmentOnDisk> segments;  // those holding at least one batch, oldest first
  // The newest segment when it holds no batch: preallocated, waiting to be used.
  std::optional<SegmentOnDisk> spare;
  uint64_t last_batch_seq = 0;
  std::vector<ZeroRepair> repairs;
  std::vector<std::string> leftover_temp_files;  // paths of *.wal.tmp: interrupted preparations
  std::vector<std::string> notices;
};

// DataLoss for corruption (naming the file and byte offset) or a missing segment;
// FailedPrecondition for a segment written by another format version; the file system's own
// error when a read or an eviction (its fdatasync) fails.
absl::StatusOr<WalContents> ReadWal(fs::FileSystem& fs, const std::string& dir);

}  // namespace kvd::wal
