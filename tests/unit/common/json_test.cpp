// common/json.h and common/firewall.h: bounded parsing, UTF-8-safe dumping,
// typed field readers, and the caught/refused counts.
#include <gtest/gtest.h>

#include <stdexcept>

#include "common/firewall.h"
#include "common/json.h"

namespace tether {
namespace {

TEST(JsonTest, DepthIsCountedOutsideStringsOnly) {
  EXPECT_EQ(json_depth("{}", 64), 1);
  EXPECT_EQ(json_depth("[[1],{\"a\":[2]}]", 64), 3);
  EXPECT_EQ(json_depth("\"[[[[\"", 64), 0);
  EXPECT_EQ(json_depth("[\"\\\"[[\"]", 64), 1);  // an escaped quote does not end the string
  EXPECT_EQ(json_depth(std::string(100000, '['), 10), 11);  // stops early
}

TEST(JsonTest, ParseRefusesDeepNestingAndBadText) {
  std::string deep = std::string(65, '[') + std::string(65, ']');
  auto r = parse_json(deep);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("deeper than 64"), std::string::npos);
  EXPECT_TRUE(parse_json(std::string(64, '[') + std::string(64, ']')));
  EXPECT_FALSE(parse_json(std::string(800000, '[')));
  auto bad = parse_json("{\"a\":");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.message(), "not valid JSON");
  auto ok = parse_json("{\"a\": [1, 2]}");
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)["a"][1], 2);
}

TEST(JsonTest, TextReplacesInvalidUtf8InsteadOfThrowing) {
  nlohmann::json j = {{"path", std::string("/a\xff\xfe")}, {std::string("k\xc3"), 1}};
  EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);
  std::string t = json_text(j);
  EXPECT_NE(t.find("/a\xEF\xBF\xBD\xEF\xBF\xBD"), std::string::npos);
  EXPECT_TRUE(parse_json(t));
}

TEST(JsonTest, Utf8CheckAndReplace) {
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(valid_utf8("\xff"));
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(valid_utf8("\xe2\x82"));          // cut short
  EXPECT_EQ(utf8_or_replaced("a\xff" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_TRUE(valid_utf8(utf8_or_replaced("\xe2\x82\xf0\x9f")));
}

TEST(JsonTest, FieldReadersCheckTheType) {
  nlohmann::json m = {{"sid", 1}, {"worker", "h1-0"}, {"n", 5}, {"b", true}, {"big", UINT64_MAX}};
  EXPECT_FALSE(string_field(m, "sid"));
  EXPECT_EQ(string_field(m, "worker"), "h1-0");
  EXPECT_EQ(int_field(m, "n"), 5);
  EXPECT_FALSE(int_field(m, "worker"));
  EXPECT_FALSE(int_field(m, "big"));
  EXPECT_EQ(bool_field(m, "b"), true);
  EXPECT_FALSE(string_field(nlohmann::json::array(), "sid"));
  EXPECT_FALSE(string_field(m, "missing"));
  EXPECT_EQ(field(m, "missing"), nullptr);
}

TEST(FirewallTest, GuardCatchesAndCounts) {
  uint64_t before = firewall::caught_count("test.guard");
  EXPECT_TRUE(firewall::guard("test.guard", [] {}));
  EXPECT_FALSE(firewall::guard("test.guard", [] { throw std::runtime_error("boom"); }));
  EXPECT_FALSE(firewall::guard("test.guard", [] { throw 42; }));
  EXPECT_EQ(firewall::caught_count("test.guard"), before + 2);
  EXPECT_EQ(firewall::stats_json()["caught"]["test.guard"], before + 2);
}

TEST(FirewallTest, RefusedIsCountedByKind) {
  uint64_t before = firewall::refused_count("test.kind");
  firewall::refused("test.kind", "wrong type");
  firewall::refused("test.kind", "wrong type again");
  EXPECT_EQ(firewall::refused_count("test.kind"), before + 2);
  EXPECT_EQ(firewall::stats_json()["refused"]["test.kind"], before + 2);
}

}  // namespace
}  // namespace tether
