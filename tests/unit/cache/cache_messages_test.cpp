// Tests the cache's message and configuration helpers (src/cache): checking
// and encoding invalidations, stream id order, docroot paths and writes,
// the "cache" section, and rules that carry a cache option.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cache/docroot.h"
#include "cache/follower.h"
#include "cache/invalidation.h"
#include "cache/settings.h"
#include "http/router.h"

namespace tether {
namespace {

TEST(InvalidationTest, ChecksRegexAndGroups) {
  EXPECT_TRUE(check_invalidation({"^GET /news", {}}));
  EXPECT_TRUE(check_invalidation({"", {"a", "b"}}));
  auto bad = check_invalidation({"(", {}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("not a valid regular expression"), std::string::npos) << bad.message();
  EXPECT_TRUE(check_invalidation({std::string(kMaxRegexBytes, 'a'), {}}));
  auto longer = check_invalidation({std::string(kMaxRegexBytes + 1, 'a'), {}});
  ASSERT_FALSE(longer);
  EXPECT_NE(longer.message().find("too long"), std::string::npos) << longer.message();
  EXPECT_TRUE(check_invalidation({R"(\xff\x{fe}|caf\xe9)", {}}));  // RE2 escapes for bytes (Latin-1), as keys are
  EXPECT_TRUE(check_invalidation({"caf\xc3\xa9|\xff", {}}));       // raw bytes, not UTF-8: still accepted
  EXPECT_FALSE(check_invalidation({"", {}}));
  EXPECT_FALSE(check_invalidation({"", {"a,b"}}));
  EXPECT_FALSE(check_invalidation({"", {""}}));
}

TEST(InvalidationTest, FieldsRoundTrip) {
  cache::Invalidation what{"^GET /x", {"news", "front"}};
  auto f = invalidation_fields(what, "h1-0:42");
  std::map<std::string, std::string> m;
  for (size_t i = 0; i + 1 < f.size(); i += 2) m[f[i]] = f[i + 1];
  EXPECT_EQ(m["type"], "invalidate");
  EXPECT_EQ(m["origin"], "h1-0:42");
  auto back = invalidation_from_fields(m);
  EXPECT_EQ(back.regex, what.regex);
  EXPECT_EQ(back.groups, what.groups);
  auto xadd = bus_log_xadd("tether:", 500, f);
  EXPECT_EQ(std::vector<std::string>(xadd.begin(), xadd.begin() + 6),
            (std::vector<std::string>{"XADD", "tether:bus:log", "MAXLEN", "~", "500", "*"}));
}

TEST(InvalidationTest, AppliesRegexAndGroupsTogether) {
  ManualClock clock;
  ResponseCache cache(clock, 1 << 20);
  CachePolicy p;
  p.mode = CacheMode::Normal;
  p.groups = {"g"};
  ASSERT_TRUE(cache.put("GET /a", Response::text("a"), p, cache.generation()));
  p.groups = {};
  ASSERT_TRUE(cache.put("GET /b", Response::text("b"), p, cache.generation()));
  ASSERT_TRUE(cache.put("GET /c", Response::text("c"), p, cache.generation()));
  auto inv = check_invalidation({"/b$", {"g"}});
  ASSERT_TRUE(inv);
  EXPECT_EQ(apply_invalidation(cache, inv.value()), 2u);
  EXPECT_EQ(cache.keys(), std::vector<std::string>{"GET /c"});
}

TEST(StreamIdTest, ComparesAsNumbers) {
  EXPECT_LT(compare_stream_ids("9-0", "10-0"), 0);
  EXPECT_LT(compare_stream_ids("10-2", "10-10"), 0);
  EXPECT_EQ(compare_stream_ids("5-1", "5-1"), 0);
  EXPECT_GT(compare_stream_ids("0-1", "0-0"), 0);
}

TEST(DocrootTest, RefusesPathsThatLeaveTheDocroot) {
  EXPECT_TRUE(check_docroot_path("css/site.css"));
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "dir/"}) {
    EXPECT_FALSE(check_docroot_path(bad)) << bad;
  }
}

TEST(DocrootTest, WritesAtomicallyAndCreatesDirectories) {
  auto root = std::filesystem::temp_directory_path() / ("docroot_" + std::to_string(getpid()));
  ASSERT_TRUE(write_docroot_file(root.string(), "a/b/c.txt", "one"));
  ASSERT_TRUE(write_docroot_file(root.string(), "a/b/c.txt", "two"));
  std::ifstream in(root / "a/b/c.txt");
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, "two");
  size_t files = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(root)) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);  // no temporary file left behind
  EXPECT_FALSE(write_docroot_file(root.string(), "../out.txt", "x"));
  std::filesystem::remove_all(root);
}

TEST(CacheSettingsTest, DefaultsAndErrors) {
  auto d = parse_cache_settings(nullptr, "/etc/tether");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->max_bytes, size_t(64) << 20);
  EXPECT_TRUE(d->docroot.empty());
  auto s = parse_cache_settings({{"max_bytes", 1000}, {"stale_after_ms", 2000}, {"docroot", "www"}}, "/etc/tether");
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(s->max_bytes, 1000u);
  EXPECT_EQ(s->stale_after_ms, 2000);
  EXPECT_EQ(s->docroot, "/etc/tether/www");
  auto bad = parse_cache_settings({{"stale_after_ms", 10}}, "/");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("cache.stale_after_ms"), std::string::npos) << bad.message();
  EXPECT_FALSE(parse_cache_settings({{"maxbytes", 1}}, "/"));
  EXPECT_FALSE(parse_cache_settings({{"docroot", ""}}, "/"));
  EXPECT_EQ(d->max_variants, 1000u);
  auto v = parse_cache_settings({{"max_variants", 5}}, "/");
  ASSERT_TRUE(v) << v.message();
  EXPECT_EQ(v->max_variants, 5u);
  for (const nlohmann::json& bad : {nlohmann::json(0), nlohmann::json(-1), nlohmann::json("5"), nlohmann::json(1.5)}) {
    auto r = parse_cache_settings({{"max_variants", bad}}, "/");
    ASSERT_FALSE(r) << bad.dump();
    EXPECT_NE(r.message().find("cache.max_variants"), std::string::npos) << r.message();
  }
}

struct Fixed final : RouteHandler {
  Response serve(Request&, const RouteMatch&) override { return Response::text("inner"); }
};

TEST(RouterCacheTest, CacheOptionNeedsAWrapperAndReachesIt) {
  std::map<std::string, RouteFactory> kinds;
  kinds["fixed"] = [](const nlohmann::json&) -> Result<std::unique_ptr<RouteHandler>> {
    return std::unique_ptr<RouteHandler>(new Fixed());
  };
  nlohmann::json rules = {{{"match", "^/"}, {"fixed", 1}, {"cache", "normal"}}};
  auto without = Router::build(rules, kinds);
  ASSERT_FALSE(without);
  EXPECT_NE(without.message().find("unknown key 'cache'"), std::string::npos) << without.message();
  std::string seen;
  CacheWrapper wrap = [&](const std::string& kind, const nlohmann::json& option,
                          std::unique_ptr<RouteHandler> inner) -> Result<std::unique_ptr<RouteHandler>> {
    seen = kind + ":" + option.dump();
    if (option == "refuse") return Result<std::unique_ptr<RouteHandler>>::error("refused here");
    return inner;
  };
  auto with = Router::build(rules, kinds, wrap);
  ASSERT_TRUE(with) << with.message();
  EXPECT_EQ(seen, "fixed:\"normal\"");
  Request req;
  req.path = "/x";
  EXPECT_EQ(with->dispatch(req).body, "inner");
  auto refused = Router::build({{{"match", "^/"}, {"fixed", 1}, {"cache", "refuse"}}}, kinds, wrap);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.message().find("routes[0].cache: refused here"), std::string::npos) << refused.message();
}

}  // namespace
}  // namespace tether
