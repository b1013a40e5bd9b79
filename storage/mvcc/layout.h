// The on-disk layout of the MVCC store, format version 1.
//
// One RocksDB column family (the default one) holds every key, so that a WriteBatch is recovered
// whole or not at all even with RocksDB's own WAL off (RocksDB flushes and installs memtables of a
// single column family in order, so what survives a crash is a prefix of the writes). The first
// byte of a RocksDB key names its keyspace:
//
//   'r' main:u64be sub:u64be  -> revision record (record.h)   one version of one user key
//   'm' <server key bytes>    -> <server value bytes>          the server's metadata (PutMeta)
//   's' <name>                -> system value                  the store's own bookkeeping
//
// System keys ('s' + name; integers are 8-byte big-endian):
//
//   sformat             "kvd-mvcc/1"       written when the store is created; any other value
//                                           (or a non-empty database without it) refuses to open
//   sapplied            index:u64 term:u64  Raft position of the last committed ApplyBatch
//   srevision           main:i64            the store's current revision (1 when empty)
//   scompact_scheduled  main:i64            the last Compact applied; reads below it fail
//   scompact_finished   main:i64            history <= this revision is physically removed
//
// Every ApplyBatch commit writes sapplied and srevision (and scompact_scheduled if it compacted)
// in the same WriteBatch as its records and metadata. The background compactor writes only
// record deletions and scompact_finished.
//
// Revision records are keyed by revision, as etcd's backend keys its "key" bucket: history
// replay (watch catch-up, HashKV, compaction) is a sequential scan, and a revision is written
// once and never rewritten. The user-key -> revisions index lives in memory (key_index.h) and is
// rebuilt from the records at open.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kvd::mvcc {

// A change's position in history: `main` counts write requests, `sub` the changes within one.
struct Revision {
  int64_t main = 0;
  int64_t sub = 0;

  friend auto operator<=>(const Revision&, const Revision&) = default;
};

inline constexpr std::string_view kFormatValue = "kvd-mvcc/1";
inline constexpr int kFormatVersion = 1;

inline constexpr char kRecordPrefix = 'r';
inline constexpr char kMetaPrefix = 'm';
inline constexpr char kSystemPrefix = 's';

inline constexpr std::string_view kSysFormat = "sformat";
inline constexpr std::string_view kSysApplied = "sapplied";
inline constexpr std::string_view kSysRevision = "srevision";
inline constexpr std::string_view kSysCompactScheduled = "scompact_scheduled";
inline constexpr std::string_view kSysCompactFinished = "scompact_finished";

inline constexpr size_t kRecordKeySize = 17;

// The RocksDB key of a revision record.
std::string RecordKey(Revision rev);
// The same bytes in a fixed buffer (no heap allocation), for writers of many records.
struct RecordKeyBytes {
  char bytes[kRecordKeySize];
  std::string_view view() const { return std::string_view(bytes, kRecordKeySize); }
};
RecordKeyBytes EncodeRecordKey(Revision rev);
// The first record key at or after `main` (sub 0).
inline std::string RecordKeyLowerBound(int64_t main) { return RecordKey(Revision{main, 0}); }
// Parses a record key; false if `key` is not one.
bool ParseRecordKey(std::string_view key, Revision* rev);

std::string MetaKey(std::string_view server_key);

void PutU64(std::string* out, uint64_t v);
uint64_t GetU64(const char* p);
std::string EncodeI64(int64_t v);
// False unless `s` is exactly 8 bytes.
bool DecodeI64(std::string_view s, int64_t* v);

}  // namespace kvd::mvcc
