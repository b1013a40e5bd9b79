#include "storage/mvcc/layout.h"

namespace kvd::mvcc {

void PutU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string RecordKey(Revision rev) {
  std::string k;
  k.reserve(kRecordKeySize);
  k.push_back(kRecordPrefix);
  PutU64(&k, static_cast<uint64_t>(rev.main));
  PutU64(&k, static_cast<uint64_t>(rev.sub));
  return k;
}

RecordKeyBytes EncodeRecordKey(Revision rev) {
  RecordKeyBytes k;
  k.bytes[0] = kRecordPrefix;
  for (int b = 0; b < 8; ++b) {
    k.bytes[1 + b] = static_cast<char>(static_cast<uint64_t>(rev.main) >> (56 - 8 * b));
    k.bytes[9 + b] = static_cast<char>(static_cast<uint64_t>(rev.sub) >> (56 - 8 * b));
  }
  return k;
}

bool ParseRecordKey(std::string_view key, Revision* rev) {
  if (key.size() != kRecordKeySize || key[0] != kRecordPrefix) return false;
  rev->main = static_cast<int64_t>(GetU64(key.data() + 1));
  rev->sub = static_cast<int64_t>(GetU64(key.data() + 9));
  return true;
}

std::string MetaKey(std::string_view server_key) {
  std::string k;
  k.reserve(server_key.size() + 1);
  k.push_back(kMetaPrefix);
  k.append(server_key);
  return k;
}

std::string EncodeI64(int64_t v) {
  std::string s;
  PutU64(&s, static_cast<uint64_t>(v));
  return s;
}

bool DecodeI64(std::string_view s, int64_t* v) {
  if (s.size() != 8) return false;
  *v = static_cast<int64_t>(GetU64(s.data()));
  return true;
}

}  // namespace kvd::mvcc
