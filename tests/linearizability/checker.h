// Linearizability checker for key-value histories (history.h).
//
// A history is linearizable when every operation can be given one instant between its call and
// its return such that, taken in the order of those instants, the operations behave as on one
// sequential store (register_model.h). An indeterminate operation (no return) may take effect at
// any instant after its call, or never.
//
// Method: Wing & Gong's search with Lowe's memoization, as in Porcupine. Operations on different
// keys never constrain each other (a key-value store is a product of independent registers, and
// linearizability is compositional: the history is linearizable iff each key's sub-history is),
// so each key is searched on its own. The search walks the calls and returns in time order,
// tentatively linearizing any operation whose call precedes the earliest pending return, and
// backtracks when a return is reached whose operation has not been placed. A set of
// (linearized operations, key content) pairs already explored prunes repeated work. Two
// reductions keep histories with many lost answers tractable, both exact: values no read
// returned and no cas expected are indistinguishable to the model and share one placeholder,
// and of several indeterminate operations that do the same thing only the earliest-called
// unplaced one is ever tried next (they can be swapped in any linearization).
//
// The search is exponential in the worst case. CheckOptions::max_steps_per_key bounds it; a key
// that exceeds the bound gets Verdict::kUnknown, which is never reported as a violation.
//
// Thread-safety: CheckHistory is a pure function; concurrent calls are fine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/linearizability/history.h"

namespace kvd::linearizability {

enum class Verdict : uint8_t {
  kLinearizable,     // every key's sub-history has a linearization
  kNotLinearizable,  // at least one key's sub-history provably has none
  kUnknown,          // no violation found, but some key's search ran out of its step budget
};
const char* VerdictName(Verdict v);

struct CheckOptions {
  // Search steps (one tentative placement each) allowed per key before giving up on that key.
  uint64_t max_steps_per_key = 20'000'000;
};

// An operation of the checked history with its position in it (0-based), so a report can point
// at the input.
struct IndexedOperation {
  size_t index = 0;
  Operation op;
};

// Why one key's sub-history is not linearizable.
struct KeyViolation {
  std::string key;
  // The longest order the search found that explains a prefix of the key's operations: the
  // operations in linearization order, and the key's content after them.
  std::vector<IndexedOperation> longest_prefix;
  Value content_after_prefix;
  // The operations that could come next after that prefix (their calls precede the earliest
  // return not yet explained), none of which leads to a full linearization, each with the reason:
  // impossible from the content, or possible but leading to a dead end later.
  struct Unplaced {
    IndexedOperation op;
    std::string why;
  };
  std::vector<Unplaced> unplaced;
};

struct CheckResult {
  Verdict verdict = Verdict::kLinearizable;
  // One entry per key found not linearizable, ordered by key.
  std::vector<KeyViolation> violations;
  // Keys whose search ran out of budget, ordered.
  std::vector<std::string> unknown_keys;
  // Total search steps over all keys.
  uint64_t steps = 0;
  size_t keys = 0;
  size_t operations = 0;

  // A report for people: the verdict and, per violation, the key, the tail of the longest
  // linearizable prefix (at most max_prefix_lines operations) and every operation that could not
  // be placed, each as a history line with its position.
  std::string Report(size_t max_prefix_lines = 20) const;
};

// Judges a history; the order of the operations in the vector does not matter. InvalidArgument,
// naming the operation, when one fails ValidateOperation.
absl::StatusOr<CheckResult> CheckHistory(const std::vector<Operation>& history,
                                         const CheckOptions& options = {});

}  // namespace kvd::linearizability
