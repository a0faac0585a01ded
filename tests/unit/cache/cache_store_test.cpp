// Tests the response cache (src/cache/store, policy): each lifetime's expiry
// with a manual clock, the LRU memory bound, groups, regex invalidation and
// the generation rule that keeps responses made before an invalidation out.
#include <gtest/gtest.h>
#include <re2/re2.h>

#include <atomic>
#include <thread>

#include "cache/policy.h"
#include "cache/store.h"

namespace tether {
namespace {

CachePolicy policy(CacheMode m, std::vector<std::string> groups = {}, Millis timeout_ms = 0) {
  CachePolicy p;
  p.mode = m;
  p.groups = std::move(groups);
  p.timeout_ms = timeout_ms;
  return p;
}

struct CacheTest : ::testing::Test {
  ManualClock clock;
  ResponseCache cache{clock, 1 << 20};
  bool put(const std::string& key, const std::string& body, const CachePolicy& p) {
    return cache.put(key, Response::text(body), p, cache.generation());
  }
  std::string body(const std::string& key) {
    auto r = cache.get(key);
    return r ? r->body : "<miss>";
  }
};

TEST_F(CacheTest, StoresAndCountsHitsAndMisses) {
  EXPECT_EQ(body("GET /a"), "<miss>");
  ASSERT_TRUE(put("GET /a", "A", policy(CacheMode::Normal)));
  EXPECT_EQ(body("GET /a"), "A");
  EXPECT_EQ(cache.stats().hits.load(), 1u);
  EXPECT_EQ(cache.stats().misses.load(), 1u);
  EXPECT_EQ(cache.stats().entries.load(), 1);
  EXPECT_GT(cache.stats().bytes.load(), 1);
}

TEST_F(CacheTest, NoCacheIsNeverStored) {
  EXPECT_FALSE(put("GET /a", "A", policy(CacheMode::None)));
  EXPECT_EQ(body("GET /a"), "<miss>");
}

TEST_F(CacheTest, TimeoutEntriesExpireOnTheClock) {
  ASSERT_TRUE(put("GET /t", "T", policy(CacheMode::Timeout, {}, 5000)));
  clock.advance(4999);
  EXPECT_EQ(body("GET /t"), "T");
  clock.advance(1);
  EXPECT_EQ(body("GET /t"), "<miss>");
  EXPECT_EQ(cache.stats().expired.load(), 1u);
  EXPECT_EQ(cache.stats().entries.load(), 0);
}

TEST_F(CacheTest, NormalAndPersistentEntriesDoNotExpire) {
  ASSERT_TRUE(put("GET /n", "N", policy(CacheMode::Normal)));
  ASSERT_TRUE(put("GET /p", "P", policy(CacheMode::Persistent)));
  clock.advance(365LL * 86400 * 1000);
  EXPECT_EQ(body("GET /n"), "N");
  EXPECT_EQ(body("GET /p"), "P");
}

TEST_F(CacheTest, ReplacingAKeyKeepsOneEntry) {
  ASSERT_TRUE(put("GET /a", "1", policy(CacheMode::Normal, {"g"})));
  ASSERT_TRUE(put("GET /a", "2", policy(CacheMode::Persistent)));
  EXPECT_EQ(body("GET /a"), "2");
  EXPECT_EQ(cache.stats().entries.load(), 1);
  EXPECT_EQ(cache.invalidate_groups({"g"}), 0u);  // the new entry is not in g
  EXPECT_EQ(body("GET /a"), "2");
}

TEST(CacheBoundTest, LeastRecentlyUsedNormalEntriesAreEvictedFirst) {
  ManualClock clock;
  const std::string big(1000, 'x');
  size_t one = ResponseCache::kEntryOverhead + 2 * 6 + 1000 + 64;  // about one entry
  ResponseCache cache(clock, 3 * one);
  auto put = [&](const std::string& k, CacheMode m) {
    return cache.put(k, Response::text(big), policy(m), cache.generation());
  };
  ASSERT_TRUE(put("GET /p", CacheMode::Persistent));
  ASSERT_TRUE(put("GET /a", CacheMode::Normal));
  ASSERT_TRUE(put("GET /b", CacheMode::Normal));
  ASSERT_NE(cache.get("GET /a"), nullptr);  // a is now more recent than b
  ASSERT_TRUE(put("GET /c", CacheMode::Normal));
  EXPECT_EQ(cache.get("GET /b"), nullptr);
  EXPECT_NE(cache.get("GET /a"), nullptr);
  EXPECT_NE(cache.get("GET /p"), nullptr);
  EXPECT_EQ(cache.stats().evictions.load(), 1u);
  EXPECT_LE(static_cast<size_t>(cache.stats().bytes.load()), cache.max_bytes());
  // Many more: the bound holds, persistent survives while normal ones can go.
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(put("GET /n" + std::to_string(i), CacheMode::Normal));
  EXPECT_LE(static_cast<size_t>(cache.stats().bytes.load()), cache.max_bytes());
  EXPECT_NE(cache.get("GET /p"), nullptr);
}

TEST(CacheBoundTest, PersistentEntriesGoOnlyWhenNothingElseIsLeft) {
  ManualClock clock;
  const std::string big(1000, 'x');
  size_t one = ResponseCache::kEntryOverhead + 2 * 6 + 1000 + 64;
  ResponseCache cache(clock, 2 * one);
  auto put = [&](const std::string& k) {
    return cache.put(k, Response::text(big), policy(CacheMode::Persistent), cache.generation());
  };
  ASSERT_TRUE(put("GET /1"));
  ASSERT_TRUE(put("GET /2"));
  ASSERT_TRUE(put("GET /3"));
  EXPECT_EQ(cache.get("GET /1"), nullptr);
  EXPECT_EQ(cache.stats().entries.load(), 2);
}

TEST(CacheBoundTest, AResponseLargerThanTheWholeCacheIsNotStored) {
  ManualClock clock;
  ResponseCache cache(clock, 500);
  EXPECT_FALSE(cache.put("GET /huge", Response::text(std::string(600, 'x')), policy(CacheMode::Normal), 0));
  EXPECT_EQ(cache.stats().entries.load(), 0);
}

TEST_F(CacheTest, GroupsInvalidateTheirMembersOnly) {
  ASSERT_TRUE(put("GET /news/1", "1", policy(CacheMode::Normal, {"news", "front"})));
  ASSERT_TRUE(put("GET /news/2", "2", policy(CacheMode::Persistent, {"news"})));
  ASSERT_TRUE(put("GET /about", "A", policy(CacheMode::Normal, {"static"})));
  EXPECT_EQ(cache.invalidate_groups({"news"}), 2u);
  EXPECT_EQ(body("GET /news/1"), "<miss>");
  EXPECT_EQ(body("GET /news/2"), "<miss>");
  EXPECT_EQ(body("GET /about"), "A");
  EXPECT_EQ(cache.invalidate_groups({"front", "nobody"}), 0u);  // /news/1 already gone from front too
  EXPECT_EQ(cache.stats().invalidated.load(), 2u);
}

TEST_F(CacheTest, AnEvictedEntryLeavesItsGroups) {
  ASSERT_TRUE(put("GET /x", "1", policy(CacheMode::Timeout, {"g"}, 10)));
  clock.advance(10);
  EXPECT_EQ(body("GET /x"), "<miss>");  // expired and erased
  ASSERT_TRUE(put("GET /x", "2", policy(CacheMode::Normal)));
  EXPECT_EQ(cache.invalidate_groups({"g"}), 0u);
  EXPECT_EQ(body("GET /x"), "2");
}

TEST_F(CacheTest, RegexInvalidationSearchesKeys) {
  ASSERT_TRUE(put("GET /news/1", "1", policy(CacheMode::Normal)));
  ASSERT_TRUE(put("GET /news/2?x=1", "2", policy(CacheMode::Persistent)));
  ASSERT_TRUE(put("GET /about", "A", policy(CacheMode::Normal)));
  ASSERT_TRUE(put("fragment:news", "F", policy(CacheMode::Normal)));
  EXPECT_EQ(cache.invalidate_regex(RE2("^GET /news/")), 2u);
  EXPECT_EQ(body("GET /about"), "A");
  EXPECT_EQ(body("fragment:news"), "F");
  EXPECT_EQ(cache.invalidate_regex(RE2("news")), 1u);  // search, not full match
  EXPECT_EQ(cache.keys(), std::vector<std::string>{"GET /about"});
}

TEST_F(CacheTest, AResponseMadeBeforeAnInvalidationIsNotStored) {
  uint64_t gen = cache.generation();
  cache.invalidate_groups({"anything"});
  EXPECT_FALSE(cache.put("GET /a", Response::text("old"), policy(CacheMode::Normal), gen));
  EXPECT_EQ(cache.stats().skipped_stale.load(), 1u);
  EXPECT_TRUE(cache.put("GET /a", Response::text("new"), policy(CacheMode::Normal), cache.generation()));
}

TEST_F(CacheTest, ClearEmptiesEverything) {
  ASSERT_TRUE(put("GET /a", "A", policy(CacheMode::Persistent, {"g"})));
  EXPECT_EQ(cache.clear(), 1u);
  EXPECT_EQ(cache.stats().bytes.load(), 0);
  EXPECT_EQ(body("GET /a"), "<miss>");
}

TEST(CacheVariantsTest, ARuleHoldsAtMostMaxVariantsEntriesAndOthersAreNotPushedOut) {
  ManualClock clock;
  ResponseCache cache(clock, 1 << 20, 3);
  CachePolicy keep = policy(CacheMode::Persistent);
  keep.rule = 1;
  CachePolicy varied = policy(CacheMode::Persistent);
  varied.rule = 2;
  ASSERT_TRUE(cache.put("GET /keep", Response::text("k"), keep, cache.generation()));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(cache.put("GET /v?i=" + std::to_string(i), Response::text("v"), varied, cache.generation()));
  }
  for (int i = 3; i < 100; ++i) {
    EXPECT_FALSE(cache.put("GET /v?i=" + std::to_string(i), Response::text("v"), varied, cache.generation()));
  }
  EXPECT_EQ(cache.stats().over_variants.load(), 97u);
  EXPECT_NE(cache.get("GET /keep"), nullptr);
  EXPECT_EQ(cache.stats().entries.load(), 4);
  // Replacing one of the rule's own keys is allowed at the cap.
  EXPECT_TRUE(cache.put("GET /v?i=0", Response::text("v2"), varied, cache.generation()));
  EXPECT_EQ(cache.get("GET /v?i=0")->body, "v2");
  // An entry that goes frees its place.
  cache.invalidate_regex(RE2("i=1$"));
  EXPECT_TRUE(cache.put("GET /v?i=50", Response::text("v"), varied, cache.generation()));
  EXPECT_FALSE(cache.put("GET /v?i=51", Response::text("v"), varied, cache.generation()));
  // Another rule has its own count; rule 0 (fragments) is not capped.
  keep.rule = 3;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(cache.put("GET /o" + std::to_string(i), Response::text("o"), keep, cache.generation()));
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(cache.put("fragment:" + std::to_string(i), Response::text("f"), policy(CacheMode::Normal), cache.generation()));
  }
  cache.clear();
  EXPECT_TRUE(cache.put("GET /v?i=99", Response::text("v"), varied, cache.generation()));
}

TEST(CacheVariantsTest, AKeyTakenOverByAnotherRuleMovesBetweenCounts) {
  ManualClock clock;
  ResponseCache cache(clock, 1 << 20, 1);
  CachePolicy a = policy(CacheMode::Normal), b = policy(CacheMode::Normal);
  a.rule = 1;
  b.rule = 2;
  ASSERT_TRUE(cache.put("GET /x", Response::text("a"), a, cache.generation()));
  ASSERT_TRUE(cache.put("GET /x", Response::text("b"), b, cache.generation()));  // rule 1 now holds nothing
  EXPECT_TRUE(cache.put("GET /y", Response::text("a"), a, cache.generation()));
  EXPECT_FALSE(cache.put("GET /z", Response::text("b"), b, cache.generation()));
}

TEST(CacheConcurrencyTest, RegexInvalidationsWhileRequestsReadAndWrite) {
  ManualClock clock;
  ResponseCache cache(clock, 1 << 20);
  std::atomic<bool> stop{false};
  std::thread requests([&] {
    for (int i = 0; !stop; ++i) {
      std::string key = "GET /k" + std::to_string(i % 500);
      if (!cache.get(key)) cache.put(key, Response::text("x"), policy(CacheMode::Normal), cache.generation());
    }
  });
  RE2 even("[02468]$");
  for (int i = 0; i < 200; ++i) cache.invalidate_regex(even);
  stop = true;
  requests.join();
  EXPECT_EQ(static_cast<size_t>(cache.stats().entries.load()), cache.keys().size());
  cache.invalidate_regex(even);
  for (const auto& k : cache.keys()) EXPECT_FALSE(RE2::PartialMatch(k, even)) << k;
}

TEST(CachePolicyTest, ParsesEveryForm) {
  EXPECT_EQ(parse_cache_policy("no_cache")->mode, CacheMode::None);
  EXPECT_EQ(parse_cache_policy("normal")->mode, CacheMode::Normal);
  EXPECT_EQ(parse_cache_policy("persistent")->mode, CacheMode::Persistent);
  auto t = parse_cache_policy(nlohmann::json{{"timeout", 2.5}});
  ASSERT_TRUE(t) << t.message();
  EXPECT_EQ(t->mode, CacheMode::Timeout);
  EXPECT_EQ(t->timeout_ms, 2500);
  auto full = parse_cache_policy(
      nlohmann::json{{"type", "persistent"}, {"groups", {"a", "b"}}, {"hook", "anonymous_only"}});
  ASSERT_TRUE(full) << full.message();
  EXPECT_EQ(full->mode, CacheMode::Persistent);
  EXPECT_EQ(full->groups, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(full->hook, "anonymous_only");
  EXPECT_EQ(parse_cache_policy(nlohmann::json{{"groups", {"a"}}})->mode, CacheMode::Normal);
}

TEST(CachePolicyTest, RefusesWhatItDoesNotKnowWithAReason) {
  auto expect_error = [](const nlohmann::json& spec, const std::string& part) {
    auto r = parse_cache_policy(spec);
    ASSERT_FALSE(r) << spec.dump();
    EXPECT_NE(r.message().find(part), std::string::npos) << r.message();
  };
  expect_error("forever", "expected");
  expect_error("timeout", "expected");
  expect_error(3, "expected");
  expect_error({{"timeout", 0}}, "timeout");
  expect_error({{"timeout", "5"}}, "timeout");
  expect_error({{"type", "normal"}, {"timeout", 5}}, "timeout");
  expect_error({{"type", "timeout"}}, "needs");
  expect_error({{"groups", "news"}}, "groups");
  expect_error({{"groups", {""}}}, "groups");
  expect_error({{"ttl", 5}}, "unknown key 'ttl'");
}

}  // namespace
}  // namespace tether
