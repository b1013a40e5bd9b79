// Snapshots of the MVCC store: what CreateSnapshot writes, what a member streams to another,
// what InstallSnapshot accepts.
//
// A snapshot is a directory holding a RocksDB checkpoint of the store (its SST, MANIFEST,
// CURRENT and OPTIONS files, taken right after a flush, so it is the committed state at one
// applied index) and a manifest file named SNAPSHOT, format version 1, text:
//
//   kvd-mvcc-snapshot 1
//   format kvd-mvcc/1
//   applied_index <u64>
//   applied_term <u64>
//   revision <i64>
//   compact_revision <i64>
//   file <name> <size in bytes> <crc32c of the contents, 8 hex digits>     (one per data file)
//   end <crc32c of every byte above this line, 8 hex digits>
//
// Streaming: the sender lists SnapshotTransferList(info) and sends each file in chunks read
// with ReadSnapshotChunk; the receiver writes them in order with WriteSnapshotChunk into an
// empty directory on the store's filesystem, then calls Store::InstallSnapshot on it, which
// checks every file against the manifest before touching the store. A receiver starts each
// transfer from an empty (or removed) directory: stray files make the snapshot fail to verify.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/mvcc/store.h"

namespace kvd::mvcc {

inline constexpr std::string_view kSnapshotManifest = "SNAPSHOT";
inline constexpr int kSnapshotFormatVersion = 1;

// Parses and checks the manifest of the snapshot in `dir` (not the data files). BadSnapshot on
// any defect.
absl::StatusOr<SnapshotInfo> ReadSnapshotManifest(const std::string& dir);

// Checks that `dir` holds exactly the manifest and the files `info` lists, with their sizes and
// CRCs. BadSnapshot naming the first defect.
absl::Status VerifySnapshotFiles(const std::string& dir, const SnapshotInfo& info);

// The files to send, in order: the data files, then the manifest.
std::vector<std::string> SnapshotTransferList(const SnapshotInfo& info);

// Up to `max_bytes` of `dir`/`name` from `offset` (empty at the end of the file).
absl::StatusOr<std::string> ReadSnapshotChunk(const std::string& dir, const std::string& name,
                                              uint64_t offset, size_t max_bytes);

// Writes `data` at `offset` of `dir`/`name`, which must be the file's current size (0 creates
// it; `dir` is created if missing). `name` must be a plain file name. Not synced: installing
// syncs.
absl::Status WriteSnapshotChunk(const std::string& dir, const std::string& name, uint64_t offset,
                                std::string_view data);

}  // namespace kvd::mvcc
