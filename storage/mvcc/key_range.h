// The key ranges of etcd requests: a single key (range_end empty), every key >= key (range_end
// "\0"), or the half-open interval [key, range_end). A range whose end is <= key is empty.
#pragma once

#include <string>
#include <string_view>

namespace kvd::mvcc {

struct KeyRange {
  std::string key;
  std::string end;  // exclusive; meaningful only for kBounded
  enum class Kind { kSingle, kFrom, kBounded } kind = Kind::kSingle;

  static KeyRange FromRequest(std::string_view key, std::string_view range_end) {
    KeyRange r;
    r.key.assign(key);
    if (range_end.empty()) {
      r.kind = Kind::kSingle;
    } else if (range_end.size() == 1 && range_end[0] == '\0') {
      r.kind = Kind::kFrom;
    } else {
      r.kind = Kind::kBounded;
      r.end.assign(range_end);
    }
    return r;
  }

  bool Contains(std::string_view k) const {
    switch (kind) {
      case Kind::kSingle:
        return k == key;
      case Kind::kFrom:
        return k >= key;
      case Kind::kBounded:
        return k >= key && k < end;
    }
    return false;
  }
};

}  // namespace kvd::mvcc
