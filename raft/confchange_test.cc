// The version-1 encoding of ConfChange and what a change does to a membership.
#include "raft/confchange.h"

#include "gtest/gtest.h"

namespace kvd::raft {
namespace {

TEST(ConfChangeEncoding, RoundTripsEveryType) {
  for (ConfChangeType t :
       {ConfChangeType::kAddNode, ConfChangeType::kRemoveNode, ConfChangeType::kAddLearnerNode}) {
    ConfChange cc{.type = t, .node_id = 0x0102030405060708ULL, .context = "name=n4"};
    absl::StatusOr<ConfChange> back = DecodeConfChange(EncodeConfChange(cc));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, cc);
  }
}

TEST(ConfChangeEncoding, LayoutIsFixed) {
  // Pins the documented byte layout: version, type, node id (LE), context length (LE), context.
  const std::string got = EncodeConfChange(
      ConfChange{.type = ConfChangeType::kAddLearnerNode, .node_id = 0x0201, .context = "ab"});
  const std::string want(
      "\x01\x02\x01\x02\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00"
      "ab",
      16);
  EXPECT_EQ(got, want);
}

TEST(ConfChangeEncoding, RejectsMalformedInput) {
  const std::string good =
      EncodeConfChange(ConfChange{.type = ConfChangeType::kAddNode, .node_id = 4, .context = "x"});
  EXPECT_FALSE(DecodeConfChange("").ok());
  EXPECT_FALSE(DecodeConfChange(good.substr(0, 10)).ok());  // short header
  std::string v2 = good;
  v2[0] = 2;
  EXPECT_NE(DecodeConfChange(v2).status().message().find("version 2"), std::string::npos);
  std::string bad_type = good;
  bad_type[1] = 3;
  EXPECT_FALSE(DecodeConfChange(bad_type).ok());
  EXPECT_FALSE(DecodeConfChange(good + "y").ok());          // trailing byte
  EXPECT_FALSE(DecodeConfChange(good.substr(0, 14)).ok());  // context cut
  EXPECT_FALSE(DecodeConfChange(EncodeConfChange(ConfChange{.node_id = 0})).ok());
}

ConfState CS(std::vector<NodeId> v, std::vector<NodeId> l) {
  return ConfState{.voters = std::move(v), .learners = std::move(l)};
}

absl::StatusOr<ConfState> Apply(const ConfState& cs, ConfChangeType t, NodeId id) {
  return ApplyChangeToConfState(cs, ConfChange{.type = t, .node_id = id});
}

TEST(ConfChangeApply, AddVoterAddsOrPromotes) {
  EXPECT_EQ(*Apply(CS({1, 2}, {}), ConfChangeType::kAddNode, 3), CS({1, 2, 3}, {}));
  EXPECT_EQ(*Apply(CS({1, 2}, {3}), ConfChangeType::kAddNode, 3), CS({1, 2, 3}, {}));
  EXPECT_EQ(*Apply(CS({1, 2}, {}), ConfChangeType::kAddNode, 2), CS({1, 2}, {}));
}

TEST(ConfChangeApply, AddLearnerAddsButNeverDemotes) {
  EXPECT_EQ(*Apply(CS({1}, {}), ConfChangeType::kAddLearnerNode, 4), CS({1}, {4}));
  EXPECT_EQ(*Apply(CS({1}, {4}), ConfChangeType::kAddLearnerNode, 4), CS({1}, {4}));
  EXPECT_EQ(Apply(CS({1, 2}, {}), ConfChangeType::kAddLearnerNode, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ConfChangeApply, RemoveDropsVotersAndLearnersButNotTheLastVoter) {
  EXPECT_EQ(*Apply(CS({1, 2, 3}, {}), ConfChangeType::kRemoveNode, 2), CS({1, 3}, {}));
  EXPECT_EQ(*Apply(CS({1}, {4}), ConfChangeType::kRemoveNode, 4), CS({1}, {}));
  EXPECT_EQ(*Apply(CS({1}, {}), ConfChangeType::kRemoveNode, 9), CS({1}, {}));
  EXPECT_EQ(Apply(CS({1}, {4}), ConfChangeType::kRemoveNode, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ConfChangeApply, NodeZeroIsRefused) {
  EXPECT_FALSE(Apply(CS({1}, {}), ConfChangeType::kAddNode, 0).ok());
}

TEST(ConfChangeDescribe, ReadableForms) {
  EXPECT_EQ(DescribeConfChange(ConfChange{.type = ConfChangeType::kAddLearnerNode, .node_id = 4}),
            "add-learner 4");
  EXPECT_EQ(DescribeConfState(CS({1, 2}, {4})), "voters=(1 2) learners=(4)");
}

}  // namespace
}  // namespace kvd::raft
