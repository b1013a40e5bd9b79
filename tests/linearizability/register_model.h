// The sequential specification of one key of the store: what each operation does to the key's
// content and which recorded results are possible from a given content. The checker (checker.h)
// asks it, for a candidate order of operations, whether that order explains every result.
#pragma once

#include <string>

#include "tests/linearizability/history.h"

namespace kvd::linearizability {

// Applies op to a key holding `state`. Returns false when op's recorded result is impossible from
// `state` (a get that read something else, a cas whose success disagrees with the comparison, a
// delete that reported the wrong existence); *next is then unspecified. Otherwise sets *next to the
// content after op. An indeterminate op, or a result that was not reported, is possible from any
// state: a cas then swaps exactly when its comparison holds.
bool StepRegister(const Value& state, const Operation& op, Value* next);

// Why StepRegister(state, op) returned false, for a person reading a violation report.
std::string ExplainImpossible(const Value& state, const Operation& op);

// A value for people: the value itself, or "<absent>".
std::string ShowValue(const Value& v);

}  // namespace kvd::linearizability
