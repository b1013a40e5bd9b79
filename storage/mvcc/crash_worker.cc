// The child process of the crash test: applies workload batches from the store's applied index
// on, printing "committed <index>" after each commit, until it reaches the last batch or is
// killed.
//
//   mvcc_crash_worker <dir> <seed> <last-index> <wal|nowal>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "storage/mvcc/crash_workload.h"
#include "storage/mvcc/store.h"

int main(int argc, char** argv) {
  using namespace kvd::mvcc;  // NOLINT
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s <dir> <seed> <last-index> <wal|nowal>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const uint64_t seed = std::strtoull(argv[2], nullptr, 10);
  const uint64_t last = std::strtoull(argv[3], nullptr, 10);
  StoreOptions options = testing::SmallStoreOptions();
  options.write_buffer_bytes = 64 << 10;
  options.rocksdb_wal = std::string(argv[4]) == "wal";
  options.compaction_batch_records = 16;
  auto store = Store::Open(dir, options);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  std::mt19937_64 flush_rng(seed ^ 0x5eed);
  std::printf("opened %llu\n", static_cast<unsigned long long>((*store)->Applied().index));
  std::fflush(stdout);
  for (uint64_t i = (*store)->Applied().index + 1; i <= last; ++i) {
    ApplyBatch b = (*store)->BeginBatch();
    testing::ApplyWorkloadBatch(b, seed, i);
    absl::Status s = b.Commit(i, 1 + i / 50);
    if (!s.ok()) {
      std::fprintf(stderr, "commit %llu: %s\n", static_cast<unsigned long long>(i),
                   s.ToString().c_str());
      return 1;
    }
    if (flush_rng() % 16 == 0 && !(*store)->Flush().ok()) return 1;
    std::printf("committed %llu\n", static_cast<unsigned long long>(i));
    std::fflush(stdout);
  }
  store->reset();
  std::printf("done\n");
  std::fflush(stdout);
  return 0;
}
