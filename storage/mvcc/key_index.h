// KeyIndex: the in-memory map from each user key to the revisions of its versions, etcd's
// treeIndex in spirit. It is rebuilt from the revision records at open (one sequential scan).
//
// Why in memory: Range, Count and the compares of a Txn resolve which revisions to read without
// any disk I/O, and a Put learns the key's create revision, version and lease without reading
// the previous record. The records themselves stay on disk, keyed by revision.
//
// Memory per key (x86-64, absl::btree_map): ~48 bytes of slot (key string header, history with
// one inline entry, create/version/lease) plus the key's own heap allocation when longer than 15
// bytes, plus ~10% B-tree node overhead; each further revision kept in a key's history costs 16
// bytes. A key with a lease also sits in the lease index (one more copy of the key).
//
// History semantics: a key's entries are in increasing revision order; an entry is a put or a
// tombstone. The key exists at revision R iff its last entry with main <= R is a put.
// Compaction at C drops, for each key, every entry with main <= C except the last one, and that
// one too if it is a tombstone (then the key leaves the index if nothing newer remains).
//
// Not thread-safe: Store guards it with its index mutex (shared for lookups, exclusive for
// changes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "storage/mvcc/key_range.h"
#include "storage/mvcc/layout.h"

namespace kvd::mvcc {

class KeyIndex {
 public:
  // The newest state of a key (counting changes not yet committed).
  struct Head {
    Revision latest;  // revision of the last entry
    bool live = false;
    int64_t create_revision = 0;  // of the live version; 0 when deleted
    int64_t version = 0;          // of the live version; 0 when deleted
    int64_t lease = 0;            // of the live version; 0 when deleted or without lease
  };

  // What Rollback needs to take one change back.
  struct Undo {
    std::string key;
    Revision rev;
    Head before;
    bool existed = false;  // the key had an entry before the change
  };

  // The newest state of `key`, or nullopt if the index has no entry for it.
  std::optional<Head> GetHead(std::string_view key) const;

  // The revision of `key`'s version at `rev` (main), or nullopt if it does not exist then.
  std::optional<Revision> Get(std::string_view key, int64_t rev) const;

  // Appends, in key order, the revision (and, if `keys` is not null, the key) of every key in
  // `range` that exists at `rev`.
  void Range(const KeyRange& range, int64_t rev, std::vector<Revision>* revs,
             std::vector<std::string>* keys) const;

  // Appends, in key order, the newest state of every key in `range` that exists now.
  void RangeHeads(const KeyRange& range, std::vector<Head>* heads) const;

  // Records a put of `key` at `rev`, which must be greater than every revision of the key.
  Undo Put(std::string_view key, Revision rev, int64_t create_revision, int64_t version,
           int64_t lease);
  // Records a delete of the live key `key` at `rev`.
  Undo Tombstone(std::string_view key, Revision rev);
  // Takes back the change `undo` describes; it must be the key's newest entry.
  void Rollback(const Undo& undo);

  // What Rollback needs to take back one TombstoneRange: the deleted keys are the keys in
  // [first_key, last_key] whose newest entry is the tombstone at {first.main, first.sub + i}
  // for the i-th of them; `before[i]` is that key's live state before the delete.
  struct RangeUndo {
    struct LiveState {
      int64_t create_revision = 0;
      int64_t version = 0;
      int64_t lease = 0;
    };
    std::string first_key;
    std::string last_key;
    Revision first;
    std::vector<LiveState> before;
  };

  // Records a delete of every key in `range` that is live now, in key order, one walk over the
  // range (no lookup per key), stopping after `max_keys` deletes: the i-th key deleted gets
  // revision {first.main, first.sub + i}, which must be greater than every revision of the key.
  // Appends each deleted key to `keys` and the revision of its deleted version to `deleted`.
  // Returns the undo of the whole call (`before` is empty if nothing was live). The caller
  // resumes a range cut short at max_keys after the last key appended.
  RangeUndo TombstoneRange(const KeyRange& range, Revision first, size_t max_keys,
                           std::vector<std::string>* keys, std::vector<Revision>* deleted);
  // Takes back a TombstoneRange; every later change to those keys must be taken back first.
  void Rollback(const RangeUndo& undo);

  // Applies compaction at `compact` to `key`'s history; appends the revisions it drops.
  void Compact(std::string_view key, int64_t compact, std::vector<Revision>* dropped);

  // Keys whose live version is attached to `lease`, in key order.
  std::vector<std::string> KeysWithLease(int64_t lease) const;

  size_t KeyCount() const { return keys_.size(); }

 private:
  struct Entry {
    int64_t main;
    int64_t sub : 63;
    bool tombstone : 1;
  };
  struct History {
    absl::InlinedVector<Entry, 1> entries;
    int64_t create_revision = 0;
    int64_t version = 0;
    int64_t lease = 0;
  };

  static Head HeadOf(const History& h);
  // The last entry of `h` with main <= rev, or nullptr.
  static const Entry* At(const History& h, int64_t rev);
  void MoveLease(const std::string& key, int64_t from, int64_t to);

  absl::btree_map<std::string, History, std::less<>> keys_;
  absl::flat_hash_map<int64_t, absl::btree_set<std::string>> lease_keys_;
};

}  // namespace kvd::mvcc
