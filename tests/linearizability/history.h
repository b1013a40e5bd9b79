// A history of operations on a key-value store, as clients saw them: what each client asked,
// when it asked, when (and whether) the answer came, and what the answer was. The
// linearizability checker (checker.h) judges such a history.
//
// TEXT FORMAT, version 1
//
// A history file is UTF-8/ASCII text, one record per line. Empty lines and lines whose first
// non-blank character is '#' are ignored. The first other line is the version line:
//
//     kvd-history 1
//
// Every following line is one operation, fields separated by blanks:
//
//     CLIENT CALL RET KIND KEY [ARGS...] [: RESULT]
//
//   CLIENT  unsigned integer naming the client (informational: the checker does not assume a
//           client is sequential, the times say what is concurrent).
//   CALL    signed 64-bit integer: when the operation was invoked (logical or real time, one
//           clock for the whole history).
//   RET     signed 64-bit integer >= CALL: when its answer arrived; or '?' when no answer ever
//           came (timeout, crash): the operation is indeterminate and may have taken effect at
//           any moment after CALL, or never. An indeterminate operation has no RESULT.
//   KIND / ARGS / RESULT:
//     get KEY : VALUE              read KEY and saw VALUE ('-' when the key did not exist)
//     put KEY VALUE                write VALUE (no RESULT)
//     cas KEY EXPECTED NEW : ok    KEY held EXPECTED ('-': KEY absent), now holds NEW
//     cas KEY EXPECTED NEW : fail  KEY did not hold EXPECTED; nothing changed
//     delete KEY [: 1|0]           remove KEY; the result, when given, says whether it existed
//
// KEY and VALUE tokens are printable ASCII without blanks: any other byte, '%', '"', and the '-'
// of a value that is exactly "-" are written as %XX (two hex digits); the empty string is written
// as "". The token '-' alone means "absent".
// Operation A precedes operation B in real time iff A.RET < B.CALL; operations whose intervals
// touch or overlap are concurrent.
//
// Example:
//
//     kvd-history 1
//     1 0 10 put x a
//     2 5 12 get x : a
//     3 11 ? cas x a b
//     1 20 25 get x : b
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kvd::linearizability {

// The content of one key: a value, or nullopt when the key does not exist.
using Value = std::optional<std::string>;

using Time = int64_t;

enum class OpKind : uint8_t { kGet, kPut, kCas, kDelete };
const char* OpKindName(OpKind kind);

struct Operation {
  uint64_t client = 0;
  Time call = 0;
  // When the answer arrived; nullopt when it never did (indeterminate).
  std::optional<Time> ret;
  OpKind kind = OpKind::kGet;
  std::string key;

  // Inputs. put: the value written (never absent). cas: `expected` is the value the key must
  // hold, `value` the one it then holds (never absent).
  Value value;
  Value expected;

  // Outputs, meaningful only when ret is set. get: what was read. cas: whether it swapped.
  // delete: whether the key existed (nullopt: not reported).
  Value read;
  std::optional<bool> succeeded;

  bool Indeterminate() const { return !ret.has_value(); }
  bool operator==(const Operation&) const = default;
};

// Constructors for the common shapes; they set every field the kind uses.
Operation GetOp(uint64_t client, Time call, std::optional<Time> ret, std::string key, Value read);
Operation PutOp(uint64_t client, Time call, std::optional<Time> ret, std::string key,
                std::string value);
Operation CasOp(uint64_t client, Time call, std::optional<Time> ret, std::string key,
                Value expected, std::string value, std::optional<bool> succeeded);
Operation DeleteOp(uint64_t client, Time call, std::optional<Time> ret, std::string key,
                   std::optional<bool> existed);

// InvalidArgument when an operation is malformed (ret < call, a put or cas without a value, a
// result on an indeterminate operation, a cas without a result although it completed).
absl::Status ValidateOperation(const Operation& op);

// One operation as a line of the text format (without the newline).
std::string FormatOperation(const Operation& op);
// The whole history in the text format, version line first.
std::string FormatHistory(const std::vector<Operation>& ops);

// Parses the text format. InvalidArgument naming the line on any malformed or invalid record,
// on a missing version line, or on a version other than 1.
absl::StatusOr<std::vector<Operation>> ParseHistory(std::string_view text);

}  // namespace kvd::linearizability
