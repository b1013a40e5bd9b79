// Randomized: histories generated from a sequential execution whose operations are then given
// random, overlapping real-time intervals around their linearization points must be accepted;
// mutations of them that provably break linearizability must be rejected.
//
// Every value written is unique, which is what makes the mutations provable: a value exists only
// between its one write and the next effective write to the key.
//
// Seeds: KVD_LIN_SEED=S runs seed S only; otherwise seeds kFirstSeed .. kFirstSeed+kSeeds-1.
// Every failure names its seed and prints the history.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/linearizability/checker.h"
#include "tests/linearizability/history.h"
#include "tests/linearizability/register_model.h"

namespace kvd::linearizability {
namespace {

constexpr uint64_t kFirstSeed = 1;
constexpr uint64_t kSeeds = 400;

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  // Uniform in [lo, hi].
  int64_t Range(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(gen_);
  }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(gen_) < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Range(0, static_cast<int64_t>(v.size()) - 1))];
  }

 private:
  std::mt19937_64 gen_;
};

// Runs random operations one at a time on a sequential store; operation i takes effect at
// instant 10*i+5 and is given an interval around it, so neighbours overlap in real time.
std::vector<Operation> GenerateLinearizable(Rng& rng) {
  int n_ops = static_cast<int>(rng.Range(5, 60));
  int n_keys = static_cast<int>(rng.Range(1, 3));
  int64_t spread = rng.Range(0, 40);
  std::map<std::string, Value> store;
  std::map<std::string, std::vector<std::string>> written;  // values ever written, per key
  std::vector<Operation> history;
  for (int i = 0; i < n_ops; ++i) {
    std::string key = absl::StrCat("k", rng.Range(0, n_keys - 1));
    Value& content = store[key];
    Time point = 10 * i + 5;
    Time call = point - rng.Range(0, spread);
    std::optional<Time> ret = point + rng.Range(0, spread);
    uint64_t client = static_cast<uint64_t>(rng.Range(1, 5));
    std::string fresh = absl::StrCat("v", i);
    int64_t dice = rng.Range(0, 99);
    // A write whose answer is lost either took effect at its point or never did.
    bool lost_answer = rng.Chance(0.12);
    bool takes_effect = !lost_answer || rng.Chance(0.5);
    if (lost_answer) ret.reset();
    if (dice < 35) {
      history.push_back(GetOp(client, call, ret, key, content));
    } else if (dice < 65) {
      history.push_back(PutOp(client, call, ret, key, fresh));
      if (takes_effect) content = fresh;
      written[key].push_back(fresh);
    } else if (dice < 85) {
      Value expected = content;
      if (rng.Chance(0.4)) {
        expected = written[key].empty() || rng.Chance(0.3) ? Value() : rng.Pick(written[key]);
      }
      bool swaps = expected == content;
      history.push_back(CasOp(client, call, ret, key, expected, fresh, swaps));
      if (takes_effect && swaps) content = fresh;
      written[key].push_back(fresh);
    } else {
      history.push_back(DeleteOp(client, call, ret, key, content.has_value()));
      if (takes_effect) content.reset();
    }
  }
  // The order of the vector must not matter to the checker.
  std::shuffle(history.begin(), history.end(), std::mt19937_64(rng.Range(0, 1 << 30)));
  return history;
}

bool Completed(const Operation& op) { return !op.Indeterminate(); }
bool WritesValue(const Operation& op) { return op.kind == OpKind::kPut || op.kind == OpKind::kCas; }
// An operation after which the key surely no longer holds any value written before it.
bool SurelyOverwrites(const Operation& op) {
  if (!Completed(op)) return false;
  return op.kind == OpKind::kPut || op.kind == OpKind::kDelete ||
         (op.kind == OpKind::kCas && op.succeeded == true);
}

std::vector<size_t> Matching(const std::vector<Operation>& h,
                             const std::function<bool(const Operation&)>& pred) {
  std::vector<size_t> out;
  for (size_t i = 0; i < h.size(); ++i) {
    if (pred(h[i])) out.push_back(i);
  }
  return out;
}

bool IsCompletedGet(const Operation& op) { return op.kind == OpKind::kGet && Completed(op); }

// Each mutation returns false when the history offers no place to apply it.
using Mutation = std::function<bool(std::vector<Operation>&, Rng&)>;

// A read returns a value no operation ever wrote.
bool ReadNeverWrittenValue(std::vector<Operation>& h, Rng& rng) {
  std::vector<size_t> gets = Matching(h, IsCompletedGet);
  if (gets.empty()) return false;
  h[rng.Pick(gets)].read = "phantom";
  return true;
}

// A read returns a value whose only write was called after the read returned.
bool ReadFromTheFuture(std::vector<Operation>& h, Rng& rng) {
  std::vector<std::pair<size_t, size_t>> pairs;
  for (size_t g : Matching(h, IsCompletedGet)) {
    for (size_t w : Matching(h, WritesValue)) {
      if (h[w].key == h[g].key && h[w].call > *h[g].ret) pairs.push_back({g, w});
    }
  }
  if (pairs.empty()) return false;
  auto [g, w] = rng.Pick(pairs);
  h[g].read = h[w].value;
  return true;
}

// A read returns a value that a completed write replaced before the read was called.
bool StaleRead(std::vector<Operation>& h, Rng& rng) {
  std::vector<std::pair<size_t, size_t>> pairs;  // (get, first write)
  for (size_t g : Matching(h, IsCompletedGet)) {
    for (size_t w1 :
         Matching(h, [](const Operation& o) { return WritesValue(o) && Completed(o); })) {
      if (h[w1].key != h[g].key) continue;
      for (size_t w2 : Matching(h, SurelyOverwrites)) {
        if (w2 != w1 && h[w2].key == h[g].key && *h[w1].ret < h[w2].call &&
            *h[w2].ret < h[g].call) {
          pairs.push_back({g, w1});
          break;
        }
      }
    }
  }
  if (pairs.empty()) return false;
  auto [g, w1] = rng.Pick(pairs);
  h[g].read = h[w1].value;
  return true;
}

// A second compare-and-swap succeeds from the same (present, hence unique) expected value.
bool CasSucceedsTwice(std::vector<Operation>& h, Rng& rng) {
  std::vector<size_t> cases = Matching(h, [](const Operation& o) {
    return o.kind == OpKind::kCas && Completed(o) && o.succeeded == true && o.expected.has_value();
  });
  if (cases.empty()) return false;
  Operation twin = h[rng.Pick(cases)];
  twin.client = 99;
  twin.value = "twin";
  twin.call = rng.Range(0, 700);
  twin.ret = twin.call + rng.Range(0, 100);
  h.push_back(twin);
  return true;
}

// A compare-and-swap whose new value was read reports that it failed.
bool SeenCasReportsFailure(std::vector<Operation>& h, Rng& rng) {
  std::vector<size_t> seen;
  for (size_t c : Matching(h, [](const Operation& o) {
         return o.kind == OpKind::kCas && Completed(o) && o.succeeded == true;
       })) {
    for (size_t g : Matching(h, IsCompletedGet)) {
      if (h[g].key == h[c].key && h[g].read == h[c].value) {
        seen.push_back(c);
        break;
      }
    }
  }
  if (seen.empty()) return false;
  h[rng.Pick(seen)].succeeded = false;
  return true;
}

std::vector<uint64_t> SeedsToRun() {
  if (const char* env = std::getenv("KVD_LIN_SEED")) {
    uint64_t seed = 0;
    if (absl::SimpleAtoi(env, &seed)) return {seed};
  }
  std::vector<uint64_t> seeds;
  for (uint64_t s = kFirstSeed; s < kFirstSeed + kSeeds; ++s) seeds.push_back(s);
  return seeds;
}

TEST(RandomHistories, GeneratedFromASequentialRunAreAccepted) {
  std::vector<uint64_t> seeds = SeedsToRun();
  std::printf("seeds %llu..%llu (replay one with KVD_LIN_SEED=S)\n",
              static_cast<unsigned long long>(seeds.front()),
              static_cast<unsigned long long>(seeds.back()));
  for (uint64_t seed : seeds) {
    Rng rng(seed);
    std::vector<Operation> h = GenerateLinearizable(rng);
    absl::StatusOr<CheckResult> r = CheckHistory(h);
    ASSERT_TRUE(r.ok()) << "seed " << seed << ": " << r.status();
    ASSERT_EQ(r->verdict, Verdict::kLinearizable) << "seed " << seed << "\n"
                                                  << FormatHistory(h) << r->Report();
  }
}

TEST(RandomHistories, ProvablyBrokenMutationsAreRejected) {
  const std::vector<std::pair<std::string, Mutation>> mutations = {
      {"read of a value never written", ReadNeverWrittenValue},
      {"read from the future", ReadFromTheFuture},
      {"stale read", StaleRead},
      {"cas succeeds twice", CasSucceedsTwice},
      {"seen cas reports failure", SeenCasReportsFailure},
  };
  std::map<std::string, int> applied;
  for (uint64_t seed : SeedsToRun()) {
    for (const auto& [name, mutate] : mutations) {
      Rng rng(seed);
      std::vector<Operation> h = GenerateLinearizable(rng);
      if (!mutate(h, rng)) continue;
      ++applied[name];
      absl::StatusOr<CheckResult> r = CheckHistory(h);
      ASSERT_TRUE(r.ok()) << "seed " << seed << ": " << r.status();
      ASSERT_EQ(r->verdict, Verdict::kNotLinearizable)
          << "seed " << seed << ", mutation '" << name << "'\n"
          << FormatHistory(h) << r->Report();
    }
  }
  for (const auto& [name, count] : applied)
    std::printf("mutation '%s': %d histories\n", name.c_str(), count);
  if (SeedsToRun().size() > 1) {
    // Every mutation kind must have been exercised often enough to mean something.
    for (const auto& [name, mutate] : mutations) {
      EXPECT_GE(applied[name], 50) << "mutation '" << name << "' rarely applicable";
    }
  }
}

// The definition, by brute force: some order of all completed operations and some of the
// indeterminate ones respects real time and explains every result.
bool LinearizableByBruteForce(const std::vector<Operation>& h) {
  std::vector<size_t> completed, lost;
  for (size_t i = 0; i < h.size(); ++i) (h[i].Indeterminate() ? lost : completed).push_back(i);
  for (uint32_t mask = 0; mask < (1u << lost.size()); ++mask) {
    std::vector<size_t> chosen = completed;
    for (size_t b = 0; b < lost.size(); ++b) {
      if (mask & (1u << b)) chosen.push_back(lost[b]);
    }
    std::sort(chosen.begin(), chosen.end());
    do {
      bool ok = true;
      // Real time: an operation that returned before another was called comes first.
      for (size_t a = 0; a < chosen.size() && ok; ++a) {
        for (size_t b = a + 1; b < chosen.size() && ok; ++b) {
          const Operation& later = h[chosen[a]];
          const Operation& earlier = h[chosen[b]];
          if (earlier.ret.has_value() && *earlier.ret < later.call) ok = false;
        }
      }
      Value content;
      for (size_t i = 0; i < chosen.size() && ok; ++i) {
        Value next;
        ok = StepRegister(content, h[chosen[i]], &next);
        content = next;
      }
      if (ok) return true;
    } while (std::next_permutation(chosen.begin(), chosen.end()));
  }
  return false;
}

TEST(RandomHistories, AgreesWithBruteForceOnSmallArbitraryHistories) {
  // Arbitrary (mostly not linearizable) histories on one key, small enough to enumerate; values
  // from a tiny set so that reads, cas expectations and lost writes collide often.
  int linearizable = 0;
  const int kPerSeed = 5;
  for (uint64_t seed : SeedsToRun()) {
    for (int rep = 0; rep < kPerSeed; ++rep) {
      Rng rng(seed * 7919 + static_cast<uint64_t>(rep));
      std::vector<Operation> h;
      int n = static_cast<int>(rng.Range(1, 6));
      const std::vector<Value> values = {std::nullopt, "a", "b", "c"};
      for (int i = 0; i < n; ++i) {
        Time call = rng.Range(0, 10);
        std::optional<Time> ret = call + rng.Range(0, 6);
        if (rng.Chance(0.3)) ret.reset();
        Value v = values[static_cast<size_t>(rng.Range(1, 3))];
        switch (rng.Range(0, 3)) {
          case 0:
            h.push_back(GetOp(1, call, ret, "k", rng.Pick(values)));
            break;
          case 1:
            h.push_back(PutOp(2, call, ret, "k", *v));
            break;
          case 2:
            h.push_back(CasOp(3, call, ret, "k", rng.Pick(values), *v, rng.Chance(0.5)));
            break;
          default:
            h.push_back(
                DeleteOp(4, call, ret, "k",
                         rng.Chance(0.3) ? std::nullopt : std::optional<bool>(rng.Chance(0.5))));
        }
      }
      absl::StatusOr<CheckResult> r = CheckHistory(h);
      ASSERT_TRUE(r.ok()) << r.status();
      bool want = LinearizableByBruteForce(h);
      linearizable += want ? 1 : 0;
      ASSERT_EQ(r->verdict, want ? Verdict::kLinearizable : Verdict::kNotLinearizable)
          << "seed " << seed << " history " << rep << "\n"
          << FormatHistory(h) << r->Report();
    }
  }
  if (SeedsToRun().size() > 1) {
    const int total = kPerSeed * static_cast<int>(SeedsToRun().size());
    EXPECT_GT(linearizable, total / 10);  // both verdicts are well represented
    EXPECT_LT(linearizable, total - total / 10);
  }
}

}  // namespace
}  // namespace kvd::linearizability
