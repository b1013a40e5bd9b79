// The RocksDB settings of the MVCC store, in one place.
//
// - One column family (layout.h says why).
// - Compression: LZ4 on every level but the last, ZSTD on the last (where ~90% of the data ends
//   up with dynamic level sizes); revision keys share long prefixes, so blocks compress well
//   even when values do not. Falls back to Snappy, then none, if the library lacks a codec.
// - Block-based tables, 4 KiB blocks (records are a few hundred bytes, read by point lookups),
//   an LRU block cache (StoreOptions::block_cache_bytes)
//   that also holds index blocks; no Bloom filter: every point lookup is for a revision the
//   index says exists, so a filter would never save a read.
// - level_compaction_dynamic_level_bytes, 2 background jobs (the machine has 2 cores), 3
//   memtables of StoreOptions::write_buffer_bytes.
// - paranoid_checks on; memtables flushed on close (avoid_flush_during_shutdown = false), which
//   is what makes a clean shutdown durable when RocksDB's WAL is off.
// - create_if_missing off: only CreateDatabase (store_files.h) creates, and it sets it itself.
#pragma once

#include <memory>

#include "rocksdb/cache.h"
#include "rocksdb/options.h"
#include "storage/mvcc/store.h"

namespace kvd::mvcc {

rocksdb::Options MakeRocksOptions(const StoreOptions& options,
                                  const std::shared_ptr<rocksdb::Cache>& block_cache);
rocksdb::WriteOptions MakeWriteOptions(const StoreOptions& options);

}  // namespace kvd::mvcc
