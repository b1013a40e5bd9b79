#include "server/watcher_group.h"

#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kvd::server {
namespace {

Watcher Make(int64_t id, std::string key, std::string end = "") {
  Watcher w;
  w.id = id;
  w.key = std::move(key);
  w.range_end = std::move(end);
  return w;
}

std::set<int64_t> Stab(const WatcherGroup& g, std::string_view key) {
  std::set<int64_t> ids;
  size_t sets = 0;
  g.ForEachSetContaining(key, [&](const WatcherGroup::Set& set) {
    ++sets;
    for (Watcher* w : set) EXPECT_TRUE(ids.insert(w->id).second) << "watcher seen twice";
  });
  return ids;
}

TEST(WatcherGroup, FindsWatchersOfSingleKeysPrefixesAndFromKeyRanges) {
  Watcher single = Make(1, "foo");
  Watcher prefix = Make(2, "fo", "fp");
  Watcher same_prefix = Make(3, "fo", "fp");
  Watcher from = Make(4, "g", std::string(1, '\0'));
  Watcher all = Make(5, std::string(1, '\0'), std::string(1, '\0'));
  WatcherGroup g;
  for (Watcher* w : {&single, &prefix, &same_prefix, &from, &all}) g.Add(w);
  EXPECT_EQ(g.size(), 5u);
  EXPECT_EQ(Stab(g, "foo"), (std::set<int64_t>{1, 2, 3, 5}));
  EXPECT_EQ(Stab(g, "fo"), (std::set<int64_t>{2, 3, 5}));
  EXPECT_EQ(Stab(g, "fp"), (std::set<int64_t>{5}));
  EXPECT_EQ(Stab(g, "g"), (std::set<int64_t>{4, 5}));
  EXPECT_EQ(Stab(g, "zzz"), (std::set<int64_t>{4, 5}));
  EXPECT_EQ(Stab(g, "a"), (std::set<int64_t>{5}));

  EXPECT_TRUE(g.Remove(&prefix));
  EXPECT_FALSE(g.Remove(&prefix));
  EXPECT_EQ(Stab(g, "foo"), (std::set<int64_t>{1, 3, 5}));
  EXPECT_TRUE(g.Remove(&same_prefix));
  EXPECT_TRUE(g.Remove(&single));
  EXPECT_EQ(Stab(g, "foo"), (std::set<int64_t>{5}));
  EXPECT_TRUE(g.Contains(&from));
  EXPECT_FALSE(g.Contains(&single));
  EXPECT_EQ(g.size(), 2u);
}

TEST(WatcherGroup, ContainsFollowsEtcdRangeRules) {
  EXPECT_TRUE(Make(1, "a").Contains("a"));
  EXPECT_FALSE(Make(1, "a").Contains("ab"));
  EXPECT_TRUE(Make(1, "a", "b").Contains("azzz"));
  EXPECT_FALSE(Make(1, "a", "b").Contains("b"));
  EXPECT_TRUE(Make(1, "a", std::string(1, '\0')).Contains("zz"));
  EXPECT_FALSE(Make(1, "b", std::string(1, '\0')).Contains("a"));
}

TEST(WatcherGroup, CoverSpansEveryWatcher) {
  Watcher a = Make(1, "b");
  Watcher b = Make(2, "d", "f");
  Watcher c = Make(3, "c", std::string(1, '\0'));
  auto [lo, hi] = WatcherGroup::Cover({&a, &b});
  EXPECT_EQ(lo, "b");
  EXPECT_EQ(hi, "f");
  auto [lo1, hi1] = WatcherGroup::Cover({&a});
  EXPECT_EQ(lo1, "b");
  EXPECT_EQ(hi1, std::string("b\0", 2));
  auto [lo2, hi2] = WatcherGroup::Cover({&b, &c, &a});
  EXPECT_EQ(lo2, "b");
  EXPECT_EQ(hi2, std::string(1, '\0'));
}

}  // namespace
}  // namespace kvd::server
