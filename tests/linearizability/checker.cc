#include "tests/linearizability/checker.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "tests/linearizability/register_model.h"

namespace kvd::linearizability {
namespace {

// Which operations of a key's sub-history are linearized so far.
class OpSet {
 public:
  explicit OpSet(size_t n) : words_((n + 63) / 64, 0) {}
  void Set(size_t i) { words_[i / 64] |= uint64_t{1} << (i % 64); }
  void Clear(size_t i) { words_[i / 64] &= ~(uint64_t{1} << (i % 64)); }
  bool Has(size_t i) const { return (words_[i / 64] >> (i % 64)) & 1; }

  bool operator==(const OpSet&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const OpSet& s) {
    return H::combine(std::move(h), s.words_);
  }

 private:
  std::vector<uint64_t> words_;
};

// A point of the search already explored: which operations were linearized and what the key
// held after them. Reaching it again cannot lead anywhere new.
struct SearchPoint {
  OpSet linearized;
  Value content;

  bool operator==(const SearchPoint&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const SearchPoint& p) {
    return H::combine(std::move(h), p.linearized, p.content);
  }
};

enum class KeyOutcome { kLinearizable, kNotLinearizable, kUnknown };

// Wing-Gong-Lowe search over the operations of one key.
class KeySearch {
 public:
  KeySearch(std::vector<IndexedOperation> ops, uint64_t max_steps)
      : ops_(std::move(ops)), max_steps_(max_steps) {
    AbstractUnobservedValues();
    BuildEventList();
    GroupInterchangeable();
  }

  KeyOutcome Run() {
    OpSet linearized(ops_.size());
    absl::flat_hash_set<SearchPoint> explored;
    Value content;           // every key starts absent
    size_t unexplained = 0;  // completed operations not yet linearized
    for (const IndexedOperation& o : ops_) unexplained += o.op.Indeterminate() ? 0 : 1;

    struct Frame {
      int event;  // the call event of the operation linearized at this depth
      Value content_before;
    };
    std::vector<Frame> stack;

    int e = events_[kHead].next;
    while (unexplained > 0) {
      // The returns of the unexplained operations are still in the list, so the walk meets one
      // before the end.
      if (e == -1) {
        std::fprintf(stderr, "linearizability checker: event list ended with %zu unexplained\n",
                     unexplained);
        std::abort();
      }
      const Event& ev = events_[e];
      if (ev.is_call) {
        const int cls = class_of_[ev.op];
        if (cls >= 0 && *class_members_[cls].begin() != e) {
          // An interchangeable operation called earlier is not placed yet: try that one only.
          e = ev.next;
          continue;
        }
        if (++steps_ > max_steps_) return KeyOutcome::kUnknown;
        const Operation& op = model_ops_[ev.op];
        Value next;
        if (StepRegister(content, op, &next)) {
          linearized.Set(ev.op);
          if (explored.insert(SearchPoint{linearized, next}).second) {
            stack.push_back(Frame{e, std::move(content)});
            content = std::move(next);
            Lift(e);
            if (!op.Indeterminate()) --unexplained;
            if (stack.size() > best_prefix_.size()) {
              best_prefix_.clear();
              for (const Frame& f : stack) best_prefix_.push_back(events_[f.event].op);
            }
            e = events_[kHead].next;
            continue;
          }
          linearized.Clear(ev.op);
        }
        e = ev.next;
        continue;
      }
      // A return of an operation not linearized yet: the current prefix cannot be extended past
      // it. Undo the latest placement and try the next candidate after it.
      if (stack.empty()) return KeyOutcome::kNotLinearizable;
      Frame top = std::move(stack.back());
      stack.pop_back();
      const Event& placed = events_[top.event];
      linearized.Clear(placed.op);
      content = std::move(top.content_before);
      Unlift(top.event);
      if (!ops_[placed.op].op.Indeterminate()) ++unexplained;
      e = placed.next;
    }
    return KeyOutcome::kLinearizable;
  }

  uint64_t steps() const { return steps_; }

  KeyViolation Explain(const std::string& key) const {
    KeyViolation v;
    v.key = key;
    std::vector<bool> in_prefix(ops_.size(), false);
    // Replaying the prefix with the real operations gives the real content (the search only
    // knew a placeholder for values nobody observed); every step succeeds as it did there.
    Value content;
    for (int i : best_prefix_) {
      v.longest_prefix.push_back(ops_[i]);
      in_prefix[i] = true;
      Value next;
      (void)StepRegister(content, ops_[i].op, &next);
      content = std::move(next);
    }
    v.content_after_prefix = content;
    // The next candidates: operations outside the prefix called no later than the earliest
    // return outside it (calls sort before returns at equal times).
    bool any_return = false;
    Time earliest_return = 0;
    for (size_t i = 0; i < ops_.size(); ++i) {
      const Operation& op = ops_[i].op;
      if (in_prefix[i] || op.Indeterminate()) continue;
      if (!any_return || *op.ret < earliest_return) earliest_return = *op.ret;
      any_return = true;
    }
    for (size_t i = 0; i < ops_.size(); ++i) {
      const Operation& op = ops_[i].op;
      if (in_prefix[i] || (any_return && op.call > earliest_return)) continue;
      Value next;
      std::string why = StepRegister(content, op, &next)
                            ? "possible here, but every order placing it next fails later"
                            : ExplainImpossible(content, op);
      v.unplaced.push_back(KeyViolation::Unplaced{ops_[i], std::move(why)});
    }
    return v;
  }

 private:
  struct Event {
    int op = -1;
    bool is_call = false;
    Time time = 0;
    int prev = -1;
    int next = -1;
    int match = -1;  // a call's return event (-1 when indeterminate)
  };
  static constexpr int kHead = 0;

  void BuildEventList() {
    std::vector<Event> sorted;
    for (size_t i = 0; i < ops_.size(); ++i) {
      const Operation& op = ops_[i].op;
      sorted.push_back(Event{static_cast<int>(i), true, op.call});
      if (op.ret.has_value()) sorted.push_back(Event{static_cast<int>(i), false, *op.ret});
    }
    // Calls before returns at equal times: intervals that touch count as concurrent.
    std::stable_sort(sorted.begin(), sorted.end(), [](const Event& a, const Event& b) {
      if (a.time != b.time) return a.time < b.time;
      if (a.is_call != b.is_call) return a.is_call;
      return a.op < b.op;
    });
    events_.assign(1, Event{});
    events_.insert(events_.end(), sorted.begin(), sorted.end());
    std::vector<int> call_of(ops_.size(), -1);
    for (int i = 0; i < static_cast<int>(events_.size()); ++i) {
      events_[i].prev = i - 1;
      events_[i].next = i + 1 < static_cast<int>(events_.size()) ? i + 1 : -1;
      if (i == kHead) continue;
      if (events_[i].is_call) {
        call_of[events_[i].op] = i;
      } else {
        events_[call_of[events_[i].op]].match = i;
      }
    }
  }

  // The model never tells apart two values that no read returned and no cas expected: it only
  // compares contents with read and expected values. Such values are replaced, in the copies
  // the search steps with, by one placeholder, so that states differing only in which unobserved
  // value the key holds are explored once.
  void AbstractUnobservedValues() {
    std::set<std::string> observed;
    std::set<std::string> all;
    for (const IndexedOperation& o : ops_) {
      for (const Value* v : {&o.op.value, &o.op.expected, &o.op.read}) {
        if (v->has_value()) all.insert(**v);
      }
      if (o.op.kind == OpKind::kGet && o.op.read.has_value()) observed.insert(*o.op.read);
      if (o.op.kind == OpKind::kCas && o.op.expected.has_value()) observed.insert(*o.op.expected);
    }
    std::string placeholder = "\x01unobserved";
    while (all.count(placeholder) > 0) placeholder += "\x01";
    unobserved_ = placeholder;
    for (const IndexedOperation& o : ops_) {
      Operation m = o.op;
      if (m.value.has_value() && observed.count(*m.value) == 0) m.value = placeholder;
      model_ops_.push_back(std::move(m));
    }
  }

  // Indeterminate operations that do the same thing (after the abstraction above) are
  // interchangeable: none has a return, so in any linearization they can be swapped, and one
  // placed while an earlier-called one is not can be exchanged for it. The search only ever
  // places the earliest-called unplaced one of each group, which keeps k such writes from
  // costing 2^k subsets.
  void GroupInterchangeable() {
    class_of_.assign(ops_.size(), -1);
    std::map<std::string, std::vector<int>> groups;
    for (size_t i = 0; i < ops_.size(); ++i) {
      const Operation& m = model_ops_[i];
      if (!m.Indeterminate() || m.kind == OpKind::kGet) continue;
      std::string sig = absl::StrCat(static_cast<int>(m.kind), "|", m.expected.has_value() ? 1 : 0,
                                     m.expected.value_or(""), "|", m.value.has_value() ? 1 : 0,
                                     m.value.value_or(""));
      groups[sig].push_back(static_cast<int>(i));
    }
    std::vector<int> call_event(ops_.size(), -1);
    for (int e = 1; e < static_cast<int>(events_.size()); ++e) {
      if (events_[e].is_call) call_event[events_[e].op] = e;
    }
    for (const auto& [sig, members] : groups) {
      if (members.size() < 2) continue;
      int cls = static_cast<int>(class_members_.size());
      class_members_.emplace_back();
      for (int i : members) {
        class_of_[i] = cls;
        class_members_[cls].insert(call_event[i]);
      }
    }
  }

  void Unlink(int i) {
    Event& ev = events_[i];
    events_[ev.prev].next = ev.next;
    if (ev.next != -1) events_[ev.next].prev = ev.prev;
  }
  void Relink(int i) {
    Event& ev = events_[i];
    events_[ev.prev].next = i;
    if (ev.next != -1) events_[ev.next].prev = i;
  }
  // Takes a linearized operation's call and return out of the list; Unlift restores them.
  void Lift(int call) {
    Unlink(call);
    if (events_[call].match != -1) Unlink(events_[call].match);
    if (int cls = class_of_[events_[call].op]; cls >= 0) class_members_[cls].erase(call);
  }
  void Unlift(int call) {
    if (events_[call].match != -1) Relink(events_[call].match);
    Relink(call);
    if (int cls = class_of_[events_[call].op]; cls >= 0) class_members_[cls].insert(call);
  }

  std::vector<IndexedOperation> ops_;
  std::vector<Operation> model_ops_;          // ops_ as the search steps them (see above)
  Value unobserved_;                          // the placeholder for values nobody observed
  std::vector<int> class_of_;                 // per op: its group of interchangeable ops, or -1
  std::vector<std::set<int>> class_members_;  // per group: call events of its unplaced ops
  uint64_t max_steps_;
  std::vector<Event> events_;
  uint64_t steps_ = 0;
  std::vector<int> best_prefix_;
};

}  // namespace

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kLinearizable:
      return "linearizable";
    case Verdict::kNotLinearizable:
      return "NOT linearizable";
    case Verdict::kUnknown:
      return "unknown (search budget exhausted)";
  }
  return "?";
}

absl::StatusOr<CheckResult> CheckHistory(const std::vector<Operation>& history,
                                         const CheckOptions& options) {
  std::map<std::string, std::vector<IndexedOperation>> by_key;
  for (size_t i = 0; i < history.size(); ++i) {
    const Operation& op = history[i];
    if (absl::Status s = ValidateOperation(op); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("operation #", i, " (", FormatOperation(op), "): ", s.message()));
    }
    // A read that never answered neither constrains nor changes anything.
    if (op.kind == OpKind::kGet && op.Indeterminate()) continue;
    by_key[op.key].push_back(IndexedOperation{i, op});
  }

  CheckResult result;
  result.operations = history.size();
  result.keys = by_key.size();
  for (auto& [key, ops] : by_key) {
    KeySearch search(std::move(ops), options.max_steps_per_key);
    KeyOutcome outcome = search.Run();
    result.steps += search.steps();
    if (outcome == KeyOutcome::kNotLinearizable) {
      result.violations.push_back(search.Explain(key));
    } else if (outcome == KeyOutcome::kUnknown) {
      result.unknown_keys.push_back(key);
    }
  }
  if (!result.violations.empty()) {
    result.verdict = Verdict::kNotLinearizable;
  } else if (!result.unknown_keys.empty()) {
    result.verdict = Verdict::kUnknown;
  }
  return result;
}

std::string CheckResult::Report(size_t max_prefix_lines) const {
  std::string out = absl::StrCat(VerdictName(verdict), ": ", operations, " operations on ", keys,
                                 " keys, ", steps, " search steps\n");
  for (const KeyViolation& v : violations) {
    absl::StrAppend(&out, "key '", v.key, "' is not linearizable.\n");
    size_t n = v.longest_prefix.size();
    absl::StrAppend(&out, "  longest linearizable prefix: ", n, " operations");
    size_t first = n > max_prefix_lines ? n - max_prefix_lines : 0;
    if (first > 0) absl::StrAppend(&out, " (the last ", n - first, " shown)");
    absl::StrAppend(&out, ", in linearization order:\n");
    for (size_t i = first; i < n; ++i) {
      absl::StrAppend(&out, "    #", v.longest_prefix[i].index, "  ",
                      FormatOperation(v.longest_prefix[i].op), "\n");
    }
    absl::StrAppend(&out, "  after it the key holds ", ShowValue(v.content_after_prefix),
                    "; none of these operations can come next:\n");
    for (const KeyViolation::Unplaced& u : v.unplaced) {
      absl::StrAppend(&out, "    #", u.op.index, "  ", FormatOperation(u.op.op), "\n      ", u.why,
                      "\n");
    }
  }
  for (const std::string& key : unknown_keys) {
    absl::StrAppend(&out, "key '", key, "': search budget exhausted, no verdict\n");
  }
  return out;
}

}  // namespace kvd::linearizability
