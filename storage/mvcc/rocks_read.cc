#include "storage/mvcc/rocks_read.h"

#include <memory>
#include <string>

#include "storage/mvcc/errors.h"
#include "storage/strings.h"

namespace kvd::mvcc {

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsCorruption()) return ErrCorrupt(storage::Cat(what, ": ", s.ToString()));
  return ErrIo(what, s.ToString());
}

absl::StatusOr<std::vector<Record>> ReadRecords(rocksdb::DB* db, const rocksdb::ReadOptions& ro,
                                                const std::vector<Revision>& revs) {
  const size_t n = revs.size();
  // Record keys are 17 bytes: kept in one buffer rather than a heap string each.
  std::string buf(n * kRecordKeySize, '\0');
  std::vector<rocksdb::Slice> slices;
  slices.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    char* p = buf.data() + i * kRecordKeySize;
    p[0] = kRecordPrefix;
    for (int b = 0; b < 8; ++b) {
      p[1 + b] = static_cast<char>(static_cast<uint64_t>(revs[i].main) >> (56 - 8 * b));
      p[9 + b] = static_cast<char>(static_cast<uint64_t>(revs[i].sub) >> (56 - 8 * b));
    }
    slices.emplace_back(p, kRecordKeySize);
  }
  std::vector<rocksdb::PinnableSlice> values(n);
  std::vector<rocksdb::Status> statuses(n);
  db->MultiGet(ro, db->DefaultColumnFamily(), n, slices.data(), values.data(), statuses.data(),
               /*sorted_input=*/false);
  std::vector<Record> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (statuses[i].IsNotFound()) {
      return ErrCorrupt(
          storage::Cat("indexed revision ", revs[i].main, ".", revs[i].sub, " has no record"));
    }
    if (!statuses[i].ok()) return FromRocks(statuses[i], "read revision record");
    absl::StatusOr<Record> r =
        DecodeRecord(std::string_view(values[i].data(), values[i].size()), revs[i]);
    if (!r.ok()) return r.status();
    out.push_back(*std::move(r));
  }
  return out;
}

}  // namespace kvd::mvcc
