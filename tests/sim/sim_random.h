// SimRandom: the simulator's only source of randomness. A fixed algorithm (splitmix64 to seed,
// xoshiro256** to draw) rather than <random>'s distributions, whose outputs differ between
// standard libraries: a seed must replay the same run everywhere.
#pragma once

#include <cstdint>
#include <vector>

namespace kvd::sim {

// Mixes x into a well-distributed 64-bit value (splitmix64's finalizer).
inline uint64_t Mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A seed for a sub-stream (a node's Config::seed, say) derived from a run's seed and labels.
inline uint64_t DeriveSeed(uint64_t seed, uint64_t a, uint64_t b = 0) {
  return Mix64(Mix64(Mix64(seed) ^ a) ^ (b * 0x9E3779B97F4A7C15ull));
}

class SimRandom {
 public:
  explicit SimRandom(uint64_t seed) {
    uint64_t x = seed;
    for (uint64_t& s : state_) {
      x += 0x9E3779B97F4A7C15ull;
      s = Mix64(x);
    }
  }

  uint64_t Next() {
    uint64_t result = Rotl(state_[1] * 5, 7) * 9;
    uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = Rotl(state_[3], 45);
    return result;
  }

  // Uniform in [lo, hi] (inclusive); lo <= hi.
  int64_t Range(int64_t lo, int64_t hi) {
    uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    if (span == 0) return static_cast<int64_t>(Next());  // the full 64-bit range
    // Rejection sampling keeps it exactly uniform.
    uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    uint64_t r;
    do {
      r = Next();
    } while (r >= limit);
    return lo + static_cast<int64_t>(r % span);
  }

  // True with probability per_mille / 1000.
  bool PerMille(int64_t per_mille) { return Range(0, 999) < per_mille; }
  bool Coin() { return (Next() >> 63) != 0; }

  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Range(0, static_cast<int64_t>(v.size()) - 1))];
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t state_[4];
};

}  // namespace kvd::sim
