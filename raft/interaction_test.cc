// Runs the scripted interaction tests in raft/testdata/*.txt (see raft/testing/datadriven.h for
// the format and raft/testing/interaction_env.h for the commands). Each script runs against a
// fresh cluster; everything is deterministic (fixed seeds), so the outputs are exact.
//
// To accept a behaviour change, rewrite the expected outputs in place and review the diff:
//   KVD_REWRITE=1 build/asan/raft/raft_interaction_test      (or pass --rewrite)
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/testing/datadriven.h"
#include "raft/testing/interaction_env.h"

namespace kvd::raft {
namespace {

bool RewriteRequested() {
  const char* env = std::getenv("KVD_REWRITE");
  if (env != nullptr && std::string(env) != "" && std::string(env) != "0") return true;
  for (const std::string& arg : ::testing::internal::GetArgvs()) {
    if (arg == "--rewrite") return true;
  }
  return false;
}

std::vector<std::string> Scripts() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(KVD_RAFT_TESTDATA_DIR)) {
    if (e.path().extension() == ".txt") names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class InteractionScript : public ::testing::TestWithParam<std::string> {};

TEST_P(InteractionScript, OutputMatches) {
  const std::filesystem::path path = std::filesystem::path(KVD_RAFT_TESTDATA_DIR) / GetParam();
  std::ifstream in(path);
  ASSERT_TRUE(in) << "cannot read " << path;
  std::stringstream buf;
  buf << in.rdbuf();
  testing::InteractionEnv env;
  testing::ScriptResult result = testing::RunScript(
      buf.str(), GetParam(), [&](const testing::TestCase& tc) { return env.Handle(tc); });
  if (RewriteRequested()) {
    std::ofstream out(path, std::ios::trunc);
    out << result.rewritten;
    ASSERT_TRUE(out) << "cannot write " << path;
    return;
  }
  for (const std::string& f : result.failures) ADD_FAILURE() << f;
}

INSTANTIATE_TEST_SUITE_P(Testdata, InteractionScript, ::testing::ValuesIn(Scripts()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(0, info.param.size() - 4);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(Datadriven, ParsesArgumentsAndRewritesOutputs) {
  const std::string script =
      "# comment\n"
      "echo a key=v list=(1,2)\n"
      "----\n"
      "stale\n"
      "\n"
      "blank\n"
      "----\n"
      "----\n"
      "x\n"
      "----\n"
      "----\n";
  std::vector<testing::TestCase> seen;
  testing::ScriptResult r = testing::RunScript(script, "t", [&](const testing::TestCase& tc) {
    seen.push_back(tc);
    return tc.name == "blank" ? std::string("x\n\ny\n") : std::string("a\n");
  });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].name, "echo");
  EXPECT_EQ(seen[0].line, 2);
  ASSERT_EQ(seen[0].args.size(), 3u);
  EXPECT_EQ(seen[0].args[0].key, "a");
  EXPECT_TRUE(seen[0].args[0].vals.empty());
  EXPECT_EQ(seen[0].Find("key")->vals, std::vector<std::string>{"v"});
  EXPECT_EQ(seen[0].Find("list")->vals, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(seen[0].expected, "stale\n");
  EXPECT_EQ(seen[1].expected, "x\n");
  EXPECT_EQ(r.failures.size(), 2u);  // both outputs differ
  EXPECT_EQ(r.rewritten,
            "# comment\n"
            "echo a key=v list=(1,2)\n"
            "----\n"
            "a\n"
            "\n"
            "blank\n"
            "----\n"
            "----\n"
            "x\n"
            "\n"
            "y\n"
            "----\n"
            "----\n");
  // The rewrite parses back to the same outputs.
  testing::ScriptResult again =
      testing::RunScript(r.rewritten, "t", [&](const testing::TestCase& tc) {
        return tc.name == "blank" ? std::string("x\n\ny\n") : std::string("a\n");
      });
  EXPECT_TRUE(again.failures.empty());
  EXPECT_EQ(again.rewritten, r.rewritten);
}

}  // namespace
}  // namespace kvd::raft
