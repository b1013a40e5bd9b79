// KVD_CHECK: the Raft core's invariant check. An invariant that does not hold means the core (or
// its owner, breaking the Ready contract) has a bug; carrying on could lose committed data, so the
// process prints what broke and aborts. Never used for conditions a peer or a client can cause:
// those are errors (raft/errors.h) or ignored messages.
//
// Why raw logging: raft/ may not include <cstdio>, <iostream> or anything that does I/O on its
// own (tests/raft_purity.sh), and Debian's Abseil 20220623 has no absl/log. Abseil's raw logger
// (ABSL_RAW_LOG) writes one line to stderr with a plain write(2) and, at FATAL, aborts; it is
// the smallest thing that prints and aborts without a purity exception. Messages longer than the
// raw logger's buffer (about 3 KB) are cut, which is fine for an invariant's message.
//
// Usage: KVD_CHECK(cond, message parts...), the parts joined with absl::StrCat and only evaluated
// when cond is false:
//   KVD_CHECK(i <= last, "commit index ", i, " beyond last index ", last);
#pragma once

#include <string_view>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"

namespace kvd::raft::internal {

// Prints "file:line: check failed: condition: message" and aborts.
[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              std::string_view message);

}  // namespace kvd::raft::internal

#define KVD_CHECK(cond, ...)                                                             \
  do {                                                                                   \
    if (ABSL_PREDICT_FALSE(!(cond))) {                                                   \
      ::kvd::raft::internal::CheckFailed(__FILE__, __LINE__, #cond,                      \
                                         ::absl::StrCat("" __VA_OPT__(, ) __VA_ARGS__)); \
    }                                                                                    \
  } while (0)
