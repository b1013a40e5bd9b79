// Cat(...): concatenates strings and integers into a std::string. This build's Abseil keeps its
// own string_view type (ABSL_OPTION_USE_STD_STRING_VIEW 0), so absl::StrCat does not accept
// std::string_view; the module's messages are built with Cat instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace kvd::mvcc {

namespace text_internal {
inline void Append(std::string* out, std::string_view s) { out->append(s); }
inline void Append(std::string* out, char c) { out->push_back(c); }
template <typename T>
requires(std::is_integral_v<T> && !std::is_same_v<T, char> &&
         !std::is_same_v<T, bool>) void Append(std::string* out, T v) {
  out->append(std::to_string(v));
}
}  // namespace text_internal

template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (text_internal::Append(&out, args), ...);
  return out;
}

// 8 lowercase hex digits.
inline std::string Hex8(uint32_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(8, '0');
  for (int i = 7; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = kDigits[v & 0xf];
  return s;
}

}  // namespace kvd::mvcc
