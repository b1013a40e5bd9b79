#include "storage/mvcc/record.h"

#include "storage/mvcc/errors.h"
#include "storage/strings.h"

namespace kvd::mvcc {
namespace {

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    auto byte = static_cast<unsigned char>(in->front());
    in->remove_prefix(1);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

struct Header {
  bool tombstone;
  uint64_t prev_main, prev_sub, create, version, lease;
  std::string_view key;
  std::string_view value;
};

bool ParseHeader(std::string_view in, Header* h) {
  if (in.empty()) return false;
  char kind = in.front();
  if (kind != 'p' && kind != 'd') return false;
  h->tombstone = kind == 'd';
  in.remove_prefix(1);
  uint64_t key_len = 0;
  if (!GetVarint(&in, &h->prev_main) || !GetVarint(&in, &h->prev_sub) ||
      !GetVarint(&in, &h->create) || !GetVarint(&in, &h->version) || !GetVarint(&in, &h->lease) ||
      !GetVarint(&in, &key_len) || key_len > in.size()) {
    return false;
  }
  h->key = in.substr(0, key_len);
  h->value = in.substr(key_len);
  if (h->tombstone && (!h->value.empty() || h->create != 0 || h->version != 0 || h->lease != 0)) {
    return false;
  }
  return true;
}

absl::Status BadRecord(Revision rev) {
  return ErrCorrupt(storage::Cat("malformed revision record ", rev.main, ".", rev.sub));
}

}  // namespace

std::string EncodeRecord(const Record& r) {
  std::string out;
  out.reserve(16 + r.key.size() + r.value.size());
  out.push_back(r.tombstone ? 'd' : 'p');
  PutVarint(&out, static_cast<uint64_t>(r.prev.main));
  PutVarint(&out, static_cast<uint64_t>(r.prev.sub));
  PutVarint(&out, static_cast<uint64_t>(r.create_revision));
  PutVarint(&out, static_cast<uint64_t>(r.version));
  PutVarint(&out, static_cast<uint64_t>(r.lease));
  PutVarint(&out, r.key.size());
  out.append(r.key);
  out.append(r.value);
  return out;
}

void EncodeTombstone(std::string_view key, Revision prev, std::string* out) {
  out->clear();
  out->push_back('d');
  PutVarint(out, static_cast<uint64_t>(prev.main));
  PutVarint(out, static_cast<uint64_t>(prev.sub));
  PutVarint(out, 0);  // create
  PutVarint(out, 0);  // version
  PutVarint(out, 0);  // lease
  PutVarint(out, key.size());
  out->append(key);
}

absl::StatusOr<Record> DecodeRecord(std::string_view bytes, Revision rev) {
  Header h;
  if (!ParseHeader(bytes, &h)) return BadRecord(rev);
  Record r;
  r.tombstone = h.tombstone;
  r.prev = Revision{static_cast<int64_t>(h.prev_main), static_cast<int64_t>(h.prev_sub)};
  r.create_revision = static_cast<int64_t>(h.create);
  r.version = static_cast<int64_t>(h.version);
  r.lease = static_cast<int64_t>(h.lease);
  r.key.assign(h.key);
  r.value.assign(h.value);
  return r;
}

absl::StatusOr<std::string_view> DecodeRecordKey(std::string_view bytes, Revision rev) {
  Header h;
  if (!ParseHeader(bytes, &h)) return BadRecord(rev);
  return h.key;
}

mvccpb::KeyValue ToKeyValue(const Record& r, Revision rev) {
  Record copy = r;
  return ToKeyValue(std::move(copy), rev);
}

mvccpb::KeyValue ToKeyValue(Record&& r, Revision rev) {
  mvccpb::KeyValue kv;
  kv.set_key(std::move(r.key));
  kv.set_mod_revision(rev.main);
  if (!r.tombstone) {
    kv.set_value(std::move(r.value));
    kv.set_create_revision(r.create_revision);
    kv.set_version(r.version);
    kv.set_lease(r.lease);
  }
  return kv;
}

}  // namespace kvd::mvcc
