// Tests config::Section (src/config/section.h), the one reader of a section
// of tether.json: defaults kept when absent, each typed read refusing the
// wrong type or range with "field '<section>.<key>': expected ..., got ...",
// the first error kept, unknown keys refused with the known ones listed.
#include "config/section.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tether::config {
namespace {

using nlohmann::json;

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(ConfigSection, AbsentKeysKeepTheirDefaults) {
  json obj = json::object();
  Section s(obj, "cache");
  int n = 7;
  int64_t big = 8;
  bool b = true;
  std::string str = "d";
  std::vector<std::string> list = {"x"};
  s.integer("n", 0, 10, &n);
  s.integer("big", 0, 10, &big);
  s.boolean("b", &b);
  s.string("str", &str);
  s.non_empty("ne", "a path", &str);
  s.one_of("mode", {"a", "b"}, &str);
  s.string_list("list", "a list", &list);
  EXPECT_TRUE(s.ok());
  EXPECT_TRUE(s.status());
  EXPECT_EQ(n, 7);
  EXPECT_EQ(big, 8);
  EXPECT_TRUE(b);
  EXPECT_EQ(str, "d");
  EXPECT_EQ(list, std::vector<std::string>{"x"});
}

TEST(ConfigSection, NullSectionReadsNothing) {
  json absent;
  Section s(absent, "cache");
  s.known({"a"});
  int n = 3;
  s.integer("a", 0, 1, &n);
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(n, 3);
  EXPECT_FALSE(s.has("a"));
  EXPECT_EQ(s.find("a"), nullptr);
}

TEST(ConfigSection, EveryTypeIsRead) {
  json obj = {{"n", 10}, {"size", 5}, {"b", false}, {"s", "text"}, {"p", "/srv"}, {"m", "batch"},
              {"l", {"h:1", "h:2"}}};
  Section s(obj, "x");
  int n = 0;
  size_t size = 0;
  bool b = true;
  std::string str, path, mode;
  std::vector<std::string> list;
  s.integer("n", 0, 10, &n);
  s.integer("size", 1, 100, &size);
  s.boolean("b", &b);
  s.string("s", &str);
  s.non_empty("p", "a path", &path);
  s.one_of("m", {"always", "batch", "none"}, &mode);
  s.string_list("l", "a list", &list);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(n, 10);  // the bounds themselves are accepted
  EXPECT_EQ(size, 5u);
  EXPECT_FALSE(b);
  EXPECT_EQ(str, "text");
  EXPECT_EQ(path, "/srv");
  EXPECT_EQ(mode, "batch");
  EXPECT_EQ(list, (std::vector<std::string>{"h:1", "h:2"}));
}

TEST(ConfigSection, IntegerRefusalsNameFieldRangeAndValue) {
  for (const json& bad : {json(11), json(-1), json("5"), json(1.5), json(5.0), json(true), json(nullptr),
                          json::array(), json(UINT64_MAX)}) {
    json obj = {{"n", bad}};
    Section s(obj, "journal", "/etc/t.json");
    int n = 4;
    s.integer("n", 0, 10, &n);
    ASSERT_FALSE(s.ok()) << bad.dump();
    EXPECT_EQ(n, 4) << "a refused value changes nothing";
    EXPECT_EQ(s.status().message(), "/etc/t.json: field 'journal.n': expected an integer from 0 to 10, got " + bad.dump());
  }
}

TEST(ConfigSection, OtherTypeRefusals) {
  json obj = {{"b", "yes"}, {"s", 5}, {"p", ""}, {"m", "sometimes"}, {"l", "h:1"}, {"e", json::array()},
              {"k", {"h:1", 2}}};
  auto first_error = [&](auto read) {
    Section s(obj, "sec");
    read(s);
    return s.status().message();
  };
  bool b = false;
  std::string str;
  std::vector<std::string> list;
  EXPECT_EQ(first_error([&](Section& s) { s.boolean("b", &b); }), "field 'sec.b': expected true or false, got \"yes\"");
  EXPECT_EQ(first_error([&](Section& s) { s.string("s", &str); }), "field 'sec.s': expected a string, got 5");
  EXPECT_EQ(first_error([&](Section& s) { s.non_empty("p", "a directory path", &str); }),
            "field 'sec.p': expected a directory path, got \"\"");
  EXPECT_EQ(first_error([&](Section& s) { s.one_of("m", {"always", "batch", "none"}, &str); }),
            "field 'sec.m': expected \"always\", \"batch\" or \"none\", got \"sometimes\"");
  EXPECT_EQ(first_error([&](Section& s) { s.one_of("m", {"on"}, &str); }), "field 'sec.m': expected \"on\", got \"sometimes\"");
  EXPECT_EQ(first_error([&](Section& s) { s.string_list("l", "a list like [\"h:p\"]", &list); }),
            "field 'sec.l': expected a list like [\"h:p\"], got \"h:1\"");
  EXPECT_EQ(first_error([&](Section& s) { s.string_list("e", "a list", &list); }), "field 'sec.e': expected a list, got []");
  EXPECT_EQ(first_error([&](Section& s) { s.string_list("k", "a list", &list); }),
            "field 'sec.k': expected strings in the list, got 2");
  EXPECT_FALSE(b);
  EXPECT_TRUE(str.empty());
  EXPECT_TRUE(list.empty()) << "a list with one bad item is not taken in part";
}

TEST(ConfigSection, TheFirstErrorIsKeptAndLaterReadsDoNothing) {
  json obj = {{"a", "x"}, {"b", 3}, {"c", "y"}};
  Section s(obj, "sec");
  int a = 0, b = 0;
  std::string c;
  s.integer("a", 0, 10, &a);
  s.integer("b", 0, 10, &b);  // fine, but after an error: not read
  s.integer("c", 0, 10, &a);
  s.fail("b", "a later complaint");
  EXPECT_EQ(b, 0);
  EXPECT_EQ(s.status().message(), "field 'sec.a': expected an integer from 0 to 10, got \"x\"");
}

TEST(ConfigSection, UnknownKeysAreRefusedWithTheKnownOnes) {
  json obj = {{"max_bytes", 1}, {"maxbytes", 2}};
  Section s(obj, "cache", "t.json");
  s.known({"max_bytes", "docroot"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "t.json: field 'cache.maxbytes': unknown field (misspelt? known: max_bytes, docroot)");
  int n = 0;
  s.integer("max_bytes", 0, 10, &n);
  EXPECT_EQ(n, 0);
  Section fine(obj, "cache");
  fine.known({"max_bytes", "maxbytes"});
  EXPECT_TRUE(fine.ok());
}

TEST(ConfigSection, TheTopLevelHasNoSectionPrefix) {
  json obj = {{"worker", -1}, {"sesion_threads", 2}};
  Section unknown(obj, "", "/etc/tether.json");
  unknown.known({"worker", "session_threads"});
  EXPECT_EQ(unknown.status().message(),
            "/etc/tether.json: field 'sesion_threads': unknown field (misspelt? known: worker, session_threads)");
  Section range(obj, "");
  int w = 0;
  range.integer("worker", 0, 65535, &w);
  EXPECT_EQ(range.status().message(), "field 'worker': expected an integer from 0 to 65535, got -1");
  EXPECT_EQ(range.path("x"), "x");
  EXPECT_EQ(Section(obj, "workflows.w").path("retries"), "workflows.w.retries");
  Section about(obj, "redis");
  about.fail(nullptr, "expected an object");
  EXPECT_EQ(about.status().message(), "field 'redis': expected an object");
}

TEST(ConfigSection, FoundValuesAreShownSafely) {
  // Long values are cut; invalid UTF-8 (in a value or in an unknown key) is replaced, never thrown on.
  std::string shown = Section::shown(json(std::string(500, 'a')));
  EXPECT_LE(shown.size(), 90u);
  EXPECT_TRUE(has(shown, "..."));
  EXPECT_NO_THROW(Section::shown(json(std::string("\xff\xfe"))));
  json obj = json::object();
  obj[std::string("bad\xff")] = 1;
  obj["s"] = std::string("\xc3");
  Section keys(obj, "sec");
  keys.known({"s"});
  ASSERT_FALSE(keys.ok());
  EXPECT_TRUE(has(keys.status().message(), "field 'sec.bad")) << keys.status().message();
  Section values(obj, "sec");
  int n = 0;
  values.integer("s", 0, 1, &n);
  EXPECT_TRUE(has(values.status().message(), "field 'sec.s': expected an integer")) << values.status().message();
}

}  // namespace
}  // namespace tether::config
