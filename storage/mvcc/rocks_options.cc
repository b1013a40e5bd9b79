#include "storage/mvcc/rocks_options.h"

#include <algorithm>

#include "rocksdb/convenience.h"
#include "rocksdb/table.h"

namespace kvd::mvcc {
namespace {

rocksdb::CompressionType Supported(rocksdb::CompressionType want) {
  std::vector<rocksdb::CompressionType> have = rocksdb::GetSupportedCompressions();
  for (auto c : {want, rocksdb::kSnappyCompression}) {
    if (std::find(have.begin(), have.end(), c) != have.end()) return c;
  }
  return rocksdb::kNoCompression;
}

}  // namespace

rocksdb::Options MakeRocksOptions(const StoreOptions& options,
                                  const std::shared_ptr<rocksdb::Cache>& block_cache) {
  rocksdb::Options o;
  // Opening never creates: a new store is built aside and renamed into place (store_files.h),
  // and InstallSnapshot must not turn a missing directory into an empty store.
  o.create_if_missing = false;
  if (options.env != nullptr) o.env = options.env;
  o.paranoid_checks = true;
  o.max_background_jobs = 2;
  o.bytes_per_sync = 1 << 20;
  o.write_buffer_size = options.write_buffer_bytes;
  o.max_write_buffer_number = 3;
  o.level_compaction_dynamic_level_bytes = true;
  o.compression = Supported(rocksdb::kLZ4Compression);
  o.bottommost_compression = Supported(rocksdb::kZSTD);
  o.avoid_flush_during_shutdown = false;
  o.keep_log_file_num = 4;
  o.max_log_file_size = 4 << 20;

  rocksdb::BlockBasedTableOptions t;
  t.block_cache = block_cache;
  t.block_size = 4 << 10;
  t.cache_index_and_filter_blocks = true;
  t.pin_l0_filter_and_index_blocks_in_cache = true;
  t.format_version = 5;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

rocksdb::WriteOptions MakeWriteOptions(const StoreOptions& options) {
  rocksdb::WriteOptions w;
  w.disableWAL = !options.rocksdb_wal;
  w.sync = options.rocksdb_wal && options.sync_commits;
  return w;
}

}  // namespace kvd::mvcc
