// The deterministic workload of the crash test: batch `index` of seed `seed` is always the same
// requests, so a run interrupted anywhere and resumed from the store's applied index must end in
// the same state as an uninterrupted run.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "storage/mvcc/apply_batch.h"
#include "storage/mvcc/testing_requests.h"

namespace kvd::mvcc::testing {

inline void ApplyWorkloadBatch(ApplyBatch& b, uint64_t seed, uint64_t index) {
  std::mt19937_64 rng(seed * 1000003u + index);
  auto key = [&] { return "key" + std::to_string(rng() % 40); };
  const int ops = 1 + static_cast<int>(rng() % 8);
  for (int i = 0; i < ops; ++i) {
    const int kind = static_cast<int>(rng() % 20);
    if (kind < 11) {
      // Values of up to ~1 KiB fill the small test memtables, so RocksDB flushes on its own.
      std::string value = "v" + std::to_string(index) + "." + std::to_string(i);
      value.resize(value.size() + rng() % 1024, 'x');
      (void)b.Put(Put(key(), value, static_cast<int64_t>(rng() % 3)));
    } else if (kind < 13) {
      std::string k = key();
      (void)b.DeleteRange(Del(k, k + "\x7f"));
    } else if (kind < 16) {
      etcdserverpb::TxnRequest t;
      *t.add_compare() =
          CmpVersion(key(), etcdserverpb::Compare::GREATER, static_cast<int64_t>(rng() % 3));
      *t.add_success() = OpPut(key(), "txn" + std::to_string(index));
      *t.add_failure() = OpDel(key());
      (void)b.Txn(t);
    } else if (kind < 17) {
      if (b.CurrentRevision() - 20 > b.CompactRevision()) {
        etcdserverpb::CompactionRequest c;
        c.set_revision(b.CurrentRevision() - 20);
        (void)b.Compact(c);
      }
    } else if (kind < 18) {
      (void)b.DeleteLeaseKeys(static_cast<int64_t>(1 + rng() % 2));
    } else {
      b.PutMeta("last-index", std::to_string(index));
    }
  }
}

}  // namespace kvd::mvcc::testing
