// Compactor: the background thread that physically removes the history a Compact dropped.
//
// It scans the revision records from where it stopped up to the committed compact revision C,
// in chunks of StoreOptions::compaction_batch_records. For each key met in a chunk it applies
// compaction at C to the key's index history (one exclusive hold of the index lock per chunk)
// and deletes the records that history dropped (one RocksDB write per chunk). The last chunk's
// write also records C in scompact_finished. Only records at or below C are touched, so reads
// at or above C are unaffected, and readers below C were refused or hold a RocksDB snapshot
// taken before the index changed. After a restart it resumes from scompact_finished + 1
// (compacting a key twice is harmless). A RocksDB error stops removal (reported on stderr):
// results stay correct, history merely stays on disk until the next open retries.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "storage/mvcc/layout.h"

namespace kvd::mvcc {

class Store;

class Compactor {
 public:
  // `finished`: the compact revision whose removal is known complete (-1: none).
  Compactor(Store* store, int64_t finished);
  ~Compactor();  // stops the thread (work left resumes at the next open)

  // A Compact was committed: there may be work.
  void Notify();
  // Blocks until removal has caught up with the store's compact revision (or failed).
  void Wait() const;

 private:
  void Run();
  // One chunk. Returns true if removal has caught up with `target`.
  bool Step(int64_t target);

  Store* const store_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  int64_t finished_;
  Revision cursor_;
  bool stop_ = false;
  bool failed_ = false;
  std::thread thread_;
};

}  // namespace kvd::mvcc
