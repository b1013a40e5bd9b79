// Shared pieces of the GoogleTest programs that drive real clusters.
#pragma once

#include <memory>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/harness/cluster.h"

namespace kvd::testing {

// Polls cond every 20 ms until it holds or timeout passes; the last answer of cond.
template <typename Cond>
bool Eventually(absl::Duration timeout, Cond cond) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return cond();
}

// Starts a cluster; a failure to start is a test failure (with the reason) and nullptr.
inline std::unique_ptr<Cluster> StartCluster(ClusterOptions options = {}) {
  absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Start(std::move(options));
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

}  // namespace kvd::testing
