// Reading revision records from RocksDB, shared by the committed view and ApplyBatch.
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/db.h"
#include "storage/mvcc/layout.h"
#include "storage/mvcc/record.h"

namespace kvd::mvcc {

// A RocksDB status as this module's error: Corrupt for corruption, Io otherwise.
absl::Status FromRocks(const rocksdb::Status& s, std::string_view what);

// The records at `revs` (in that order) with one batched MultiGet. Corrupt if one is missing:
// the index only holds revisions that have records.
absl::StatusOr<std::vector<Record>> ReadRecords(rocksdb::DB* db, const rocksdb::ReadOptions& ro,
                                                const std::vector<Revision>& revs);

}  // namespace kvd::mvcc
