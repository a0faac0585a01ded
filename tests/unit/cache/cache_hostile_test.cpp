// Tests the cache against hostile invalidations (issue 14): patterns that
// overflowed the stack compiling (std::regex) or matching them are refused
// or matched in linear time, and nothing crashes.
#include <gtest/gtest.h>

#include <chrono>

#include "cache/invalidation.h"
#include "cache/store.h"

namespace tether {
namespace {

CachePolicy normal() {
  CachePolicy p;
  p.mode = CacheMode::Normal;
  return p;
}

TEST(CacheHostileRegexTest, A95KilobytePatternIsRefusedWithAReason) {
  auto r = check_invalidation({std::string(95 * 1024, 'a'), {}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("too long"), std::string::npos) << r.message().substr(0, 200);
  EXPECT_LT(r.message().size(), 400u);  // the pattern itself is not echoed whole
}

TEST(CacheHostileRegexTest, APatternNested30000DeepIsRefused) {
  auto r = check_invalidation({std::string(30000, '(') + "a" + std::string(30000, ')'), {}});
  ASSERT_FALSE(r);
}

TEST(CacheHostileRegexTest, NestingWithinTheLengthBoundCompilesOrIsRefusedAndNeverCrashes) {
  std::string deep = std::string(2000, '(') + "a" + std::string(2000, ')');
  auto r = check_invalidation({deep, {}});
  if (r) {
    ManualClock clock;
    ResponseCache cache(clock, 1 << 20);
    ASSERT_TRUE(cache.put("GET /a", Response::text("a"), normal(), cache.generation()));
    EXPECT_EQ(apply_invalidation(cache, r.value()), 1u);
  }
}

TEST(CacheHostileRegexTest, TheCatastrophicPatternAgainstA3000ByteKeyCompletes) {
  ManualClock clock;
  ResponseCache cache(clock, 1 << 20);
  const std::string key = "GET /" + std::string(3000, 'x');
  ASSERT_TRUE(cache.put(key, Response::text("x"), normal(), cache.generation()));
  ASSERT_TRUE(cache.put("GET /short", Response::text("s"), normal(), cache.generation()));
  auto r = check_invalidation({"((((((((((((((((((((.))))))))))))))))))))*$", {}});
  ASSERT_TRUE(r) << r.message();
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(apply_invalidation(cache, r.value()), 2u);  // searched: it matches every key
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(CacheHostileRegexTest, ManyKeysAgainstABigPatternStayLinear) {
  ManualClock clock;
  ResponseCache cache(clock, 64 << 20);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(cache.put("GET /" + std::to_string(i) + std::string(2000, 'y'), Response::text("y"), normal(),
                          cache.generation()));
  }
  std::string alternatives;
  for (int i = 0; alternatives.size() < 4000; ++i)
    alternatives += (i ? "|" : "") + std::string("(y+)+z") + std::to_string(i);
  auto r = check_invalidation({alternatives, {}});
  ASSERT_TRUE(r) << r.message().substr(0, 200);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(apply_invalidation(cache, r.value()), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(CacheHostileRegexTest, PatternsAndKeysAreBytesSoNoEncodingIsRefusedOrMissed) {
  ManualClock clock;
  ResponseCache cache(clock, 1 << 20);
  for (const char* k : {"GET /\xff\xfe", "GET /caf\xc3\xa9", "GET /nul\x01"}) {
    ASSERT_TRUE(cache.put(k, Response::text("x"), normal(), cache.generation()));
  }
  for (const std::string& pattern : {std::string("\xff"), std::string("/\xff\xfe$"), std::string("caf\xc3\xa9"),
                                     std::string("/..$"), std::string("\x01")}) {
    auto r = check_invalidation({pattern, {}});
    ASSERT_TRUE(r) << pattern << ": " << r.message();
  }
  EXPECT_EQ(apply_invalidation(cache, check_invalidation({"\xff", {}}).value()), 1u);
  EXPECT_EQ(apply_invalidation(cache, check_invalidation({"caf\xc3\xa9$", {}}).value()), 1u);
  EXPECT_EQ(apply_invalidation(cache, check_invalidation({std::string("nul\x01"), {}}).value()), 1u);
  auto nul = check_invalidation({std::string("a\0b", 3), {}});  // a NUL byte in the pattern: refused or literal
  if (nul) {
    EXPECT_EQ(apply_invalidation(cache, nul.value()), 0u);
  }
  // The RE2 escape for a byte matches it too.
  ASSERT_TRUE(cache.put("GET /\xfe", Response::text("x"), normal(), cache.generation()));
  EXPECT_EQ(apply_invalidation(cache, check_invalidation({R"(/\xfe$)", {}}).value()), 1u);
}

// The matches are erased a chunk (1024) at a time: more than one chunk's
// worth goes, and exactly what matched.
TEST(CacheHostileRegexTest, MatchesBeyondOneEraseChunkAllGoAndNothingElse) {
  ManualClock clock;
  ResponseCache cache(clock, 64 << 20);
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE(cache.put("GET /" + std::string(i % 2 ? "odd/" : "even/") + std::to_string(i), Response::text("p"),
                          normal(), cache.generation()));
  }
  auto r = check_invalidation({"^GET /even/", {}});
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(apply_invalidation(cache, r.value()), 2500u);
  EXPECT_EQ(cache.keys().size(), 2500u);
  EXPECT_TRUE(cache.get("GET /odd/4999"));
  EXPECT_FALSE(cache.get("GET /even/4998"));
  EXPECT_EQ(apply_invalidation(cache, r.value()), 0u);  // nothing left to match
}

}  // namespace
}  // namespace tether
