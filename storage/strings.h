// Cat(...): absl::StrCat that also takes std::string_view and char.
//
// Debian's Abseil (20220623) is built with its own absl::string_view type
// (ABSL_OPTION_USE_STD_STRING_VIEW 0), which does not convert from std::string_view, so
// absl::StrCat refuses the std::string_view that storage code passes around. Cat hands such
// arguments to absl::StrCat as absl::string_view and everything else (std::string, const char*,
// absl::string_view, integers, ...) unchanged, so it formats exactly as absl::StrCat does.
// Hex8 writes a 32-bit value as 8 lowercase hex digits (checksums in text formats).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace kvd::storage {

namespace strings_internal {

inline absl::string_view ForStrCat(std::string_view s) { return {s.data(), s.size()}; }
// One character, as text (absl::StrCat has no overload for char). `c` must outlive the call,
// which it does: it refers to an argument of Cat.
inline absl::string_view ForStrCat(const char& c) { return {&c, 1}; }
template <typename T>
const T& ForStrCat(const T& v) {
  return v;
}

}  // namespace strings_internal

template <typename... Args>
std::string Cat(const Args&... args) {
  return absl::StrCat(strings_internal::ForStrCat(args)...);
}

inline std::string Hex8(uint32_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(8, '0');
  for (int i = 7; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = kDigits[v & 0xf];
  return s;
}

}  // namespace kvd::storage
