// MVCC_CHECK(cond, message...): an invariant of the store that must hold whatever the input. A
// violation means a bug or memory corruption, never bad input: it prints where and why, then
// aborts. Bad input and I/O failures are returned as absl::Status instead.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "storage/strings.h"

#define MVCC_CHECK(cond, ...)                                                                     \
  do {                                                                                            \
    if (!(cond)) [[unlikely]] {                                                                   \
      std::fprintf(stderr, "%s:%d: mvcc invariant violated: %s: %s\n", __FILE__, __LINE__, #cond, \
                   ::kvd::storage::Cat("" __VA_OPT__(, ) __VA_ARGS__).c_str());                   \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)
