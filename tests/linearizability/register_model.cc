#include "tests/linearizability/register_model.h"

#include "absl/strings/str_cat.h"

namespace kvd::linearizability {

bool StepRegister(const Value& state, const Operation& op, Value* next) {
  switch (op.kind) {
    case OpKind::kGet:
      *next = state;
      return op.Indeterminate() || op.read == state;
    case OpKind::kPut:
      *next = op.value;
      return true;
    case OpKind::kCas: {
      bool swaps = state == op.expected;
      if (op.succeeded.has_value() && *op.succeeded != swaps) return false;
      *next = swaps ? op.value : state;
      return true;
    }
    case OpKind::kDelete:
      if (op.succeeded.has_value() && *op.succeeded != state.has_value()) return false;
      next->reset();
      return true;
  }
  return false;
}

std::string ShowValue(const Value& v) {
  return v.has_value() ? absl::StrCat("'", *v, "'") : "<absent>";
}

std::string ExplainImpossible(const Value& state, const Operation& op) {
  switch (op.kind) {
    case OpKind::kGet:
      return absl::StrCat("read ", ShowValue(op.read), " but the key holds ", ShowValue(state));
    case OpKind::kPut:
      return "a put is always possible";
    case OpKind::kCas:
      return absl::StrCat(op.succeeded.value_or(false) ? "succeeded" : "failed", " comparing with ",
                          ShowValue(op.expected), " but the key holds ", ShowValue(state));
    case OpKind::kDelete:
      return absl::StrCat("reported the key ", op.succeeded.value_or(false) ? "existed" : "absent",
                          " but it holds ", ShowValue(state));
  }
  return "?";
}

}  // namespace kvd::linearizability
