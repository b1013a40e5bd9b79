// The Raft core's only source of randomness: SplitMix64 (Steele, Lea, Flood, "Fast splittable
// pseudorandom number generators", 2014), a 64-bit generator whose whole state is one counter.
// Deterministic by construction: equal seeds give equal sequences, on every platform.
#pragma once

#include <cstdint>

namespace kvd::raft {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // A value in [0, bound); bound > 0. The modulo bias is below 2^-40 for the small bounds the
  // core draws (election timeouts), which is irrelevant here.
  uint64_t Below(uint64_t bound) { return Next() % bound; }

 private:
  uint64_t state_;
};

}  // namespace kvd::raft
