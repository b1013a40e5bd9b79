// Debian's Abseil (20220623) is built with its own absl::string_view, not std::string_view, and
// the two do not convert implicitly. Av() hands a std::string_view to Abseil's string functions.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace kvd {

inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace kvd
