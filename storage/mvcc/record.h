// A revision record: the value stored under a revision key (layout.h), format version 1. One
// record is one change to one user key: a put (a new version) or a delete (a tombstone).
//
//   kind       1 byte   'p' put, 'd' delete
//   prev_main  varint   the revision of the key's previous version in its current life (since
//   prev_sub   varint   its last creation); 0,0 if there is none. For a delete: the deleted
//   version. create     varint   revision main of the put that created this life of the key (0 for
//   delete) version    varint   puts since creation, this one included (0 for delete) lease varint
//   lease ID as an unsigned 64-bit integer (0: none; 0 for delete) key_len    varint key key_len
//   bytes value      every remaining byte (empty for delete)
//
// varint is unsigned LEB128 (7 bits per byte, low bits first, high bit set on all but the last).
// The encoding is canonical: equal records have equal bytes, so HashKV can hash record bytes.
// `prev` lets history replay (watch catch-up) attach a prev_kv to an event without the index.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "mvccpb/kv.pb.h"
#include "storage/mvcc/layout.h"

namespace kvd::mvcc {

struct Record {
  bool tombstone = false;
  Revision prev;
  int64_t create_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
  std::string key;
  std::string value;
};

std::string EncodeRecord(const Record& r);
// The encoding of a delete of `key` whose deleted version is `prev`, replacing `*out` (its
// capacity is reused: writers of many tombstones pass the same buffer).
void EncodeTombstone(std::string_view key, Revision prev, std::string* out);
// Corrupt error naming `rev` if `bytes` is not a well-formed record.
absl::StatusOr<Record> DecodeRecord(std::string_view bytes, Revision rev);
// Just the user key of an encoded record, without copying the value.
absl::StatusOr<std::string_view> DecodeRecordKey(std::string_view bytes, Revision rev);

// The etcd view of a put record stored at `rev`.
mvccpb::KeyValue ToKeyValue(const Record& r, Revision rev);
mvccpb::KeyValue ToKeyValue(Record&& r, Revision rev);

}  // namespace kvd::mvcc
