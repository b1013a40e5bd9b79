// THE READY CONTRACT (raft/rawnode.h), tested through the public API: what may leave before
// persistence, what only after, what is handed out for applying, and when.
#include "raft/rawnode.h"

#include <memory>

#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/memory_storage.h"
#include "raft/testing/cluster.h"

namespace kvd::raft {
namespace {

using testing::Cluster;
using testing::TestConfig;

TEST(RawNodeSmoke, ThreeNodesElectAndCommit) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  EXPECT_EQ(c.LeaderOf(1), 1u);
  EXPECT_EQ(c.LeaderOf(2), 1u);
  ASSERT_TRUE(c.raw(1).Propose("foo").ok());
  c.Stabilize();
  for (NodeId id : {1, 2, 3}) {
    ASSERT_EQ(c.node(id).applied().size(), 1u) << id;
    EXPECT_EQ(c.node(id).applied()[0].second, "foo");
  }
}

}  // namespace
}  // namespace kvd::raft
