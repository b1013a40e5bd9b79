#include "server/identity.h"

#include "gtest/gtest.h"

namespace kvd::server {
namespace {

// Pinned against etcd 3.4 started with --initial-cluster infra1=http://127.0.0.1:41380
// --initial-cluster-token tok-1: `etcdctl endpoint status -w json` reported these IDs.
TEST(Identity, SameIdsAsEtcdForTheSameFlags) {
  const uint64_t member = ComputeMemberId({"http://127.0.0.1:41380"}, "tok-1");
  EXPECT_EQ(member, 3007871172403211876u);
  EXPECT_EQ(IdToString(member), "29be1ae5193b2e64");
  EXPECT_EQ(ComputeClusterId({member}), 110413176315697533u);
}

TEST(Identity, OrderOfUrlsAndMembersDoesNotMatter) {
  EXPECT_EQ(ComputeMemberId({"http://a:1", "http://b:2"}, "t"),
            ComputeMemberId({"http://b:2", "http://a:1"}, "t"));
  EXPECT_EQ(ComputeClusterId({1, 2, 3}), ComputeClusterId({3, 1, 2}));
}

TEST(Identity, TokenSeparatesClusters) {
  EXPECT_NE(ComputeMemberId({"http://a:1"}, "one"), ComputeMemberId({"http://a:1"}, "two"));
}

}  // namespace
}  // namespace kvd::server
