// The text history format: what it accepts, what it refuses, and that writing then reading a
// history gives it back unchanged.
#include "tests/linearizability/history.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kvd::linearizability {
namespace {

TEST(HistoryFormat, ParsesEveryKind) {
  absl::StatusOr<std::vector<Operation>> h = ParseHistory(
      "# a comment\n"
      "\n"
      "kvd-history 1\n"
      "1 0 10 put x a\n"
      "2 5 12 get x : a\n"
      "3 11 ? cas x a b\n"
      "4 13 14 cas x - c : fail\n"
      "5 15 16 delete x : 1\n"
      "5 17 18 delete x\n"
      "6 -3 ? put y \"\"\n"
      "\t7  19   20 get y : -   \n");
  ASSERT_TRUE(h.ok()) << h.status();
  std::vector<Operation> want = {
      PutOp(1, 0, 10, "x", "a"),
      GetOp(2, 5, 12, "x", "a"),
      CasOp(3, 11, std::nullopt, "x", "a", "b", std::nullopt),
      CasOp(4, 13, 14, "x", std::nullopt, "c", false),
      DeleteOp(5, 15, 16, "x", true),
      DeleteOp(5, 17, 18, "x", std::nullopt),
      PutOp(6, -3, std::nullopt, "y", ""),
      GetOp(7, 19, 20, "y", std::nullopt),
  };
  EXPECT_EQ(*h, want);
}

TEST(HistoryFormat, RoundTripsAwkwardBytes) {
  std::vector<Operation> ops = {
      PutOp(1, 0, 1, "key with spaces", "50% \"quoted\"\n"),
      PutOp(1, 2, 3, "-", "-"),
      GetOp(2, 4, 5, "\x01\xff", std::string("\0", 1)),
      CasOp(3, 6, 7, "", "", "--", true),
  };
  std::string text = FormatHistory(ops);
  absl::StatusOr<std::vector<Operation>> back = ParseHistory(text);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << text;
  EXPECT_EQ(*back, ops) << text;
}

TEST(HistoryFormat, FormatsOneLinePerOperation) {
  EXPECT_EQ(FormatOperation(CasOp(3, 11, std::nullopt, "x", std::nullopt, "b", std::nullopt)),
            "3 11 ? cas x - b");
  EXPECT_EQ(FormatOperation(GetOp(2, 5, 12, "x", std::nullopt)), "2 5 12 get x : -");
  EXPECT_EQ(FormatHistory({DeleteOp(1, 1, 2, "k", false)}), "kvd-history 1\n1 1 2 delete k : 0\n");
}

void ExpectRejected(const std::string& text, const std::string& message_part) {
  absl::StatusOr<std::vector<Operation>> h = ParseHistory(text);
  ASSERT_FALSE(h.ok()) << text;
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(h.status().message()).find(message_part), std::string::npos)
      << h.status() << " lacks '" << message_part << "'";
}

TEST(HistoryFormat, RefusesMalformedInput) {
  ExpectRejected("", "no version line");
  ExpectRejected("1 0 1 put x a\n", "line 1: expected the version line");
  ExpectRejected("kvd-history 2\n", "version 2 is not supported");
  ExpectRejected("kvd-history 1\n1 0 1 put x\n", "line 2: put takes 1 argument");
  ExpectRejected("kvd-history 1\n1 5 4 put x a\n", "line 2: returns (4) before it was called");
  ExpectRejected("kvd-history 1\n1 0 1 get x\n", "needs ': VALUE'");
  ExpectRejected("kvd-history 1\n1 0 ? get x : a\n", "indeterminate operation has no result");
  ExpectRejected("kvd-history 1\n1 0 1 cas x a b\n", "needs its result");
  ExpectRejected("kvd-history 1\n1 0 1 cas x a b : maybe\n", "'ok' or 'fail'");
  ExpectRejected("kvd-history 1\n1 0 1 frob x\n", "unknown operation kind 'frob'");
  ExpectRejected("kvd-history 1\nx 0 1 get x : a\n", "bad client id");
  ExpectRejected("kvd-history 1\n1 0 1 put x a%4\n", "truncated %XX escape");
  ExpectRejected("kvd-history 1\n1 0 1 put x a%zz\n", "bad %XX escape");
  ExpectRejected("kvd-history 1\n1 0 1 put x -\n", "a put needs a value");
  ExpectRejected("kvd-history 1\n1 0 1 get x : a b\n", "exactly one result");
}

}  // namespace
}  // namespace kvd::linearizability
