// Tests mustache templates (src/template): escaping, JSON contexts, loading a
// directory, errors, and the fragment cache rendered once and invalidated.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "template/templates.h"

namespace tether {
namespace {

using nlohmann::json;

std::string render(Templates& t, const std::string& name, const json& ctx, ResponseCache* cache = nullptr) {
  auto r = t.render(name, ctx, cache);
  return r ? r.value() : "<error: " + r.message() + ">";
}

TEST(TemplatesTest, EscapesHtmlByDefault) {
  Templates t;
  ASSERT_TRUE(t.add("p", "<p>{{title}}</p>{{{raw}}}"));
  EXPECT_EQ(render(t, "p", {{"title", "<b>&\"x\""}, {"raw", "<i>"}}), "<p>&lt;b&gt;&amp;&quot;x&quot;</p><i>");
}

TEST(TemplatesTest, JsonContextsOfEveryType) {
  Templates t;
  ASSERT_TRUE(t.add("p", "{{n}} {{#ok}}yes{{/ok}}{{^gone}}none{{/gone}} {{#items}}[{{name}}]{{/items}} {{user.name}}"));
  json ctx = {{"n", 42}, {"ok", true}, {"gone", nullptr},
              {"items", json::array({{{"name", "a"}}, {{"name", "b"}}})}, {"user", {{"name", "ann"}}}};
  EXPECT_EQ(render(t, "p", ctx), "42 yesnone [a][b] ann");
}

TEST(TemplatesTest, UnknownTemplateAndBadSyntaxAreErrors) {
  Templates t;
  EXPECT_EQ(render(t, "nope", json::object()), "<error: no template 'nope'>");
  Status s = t.add("bad", "{{#open}} never closed");
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("bad"), std::string::npos) << s.message();
}

TEST(TemplatesTest, LoadsADirectoryByRelativeName) {
  auto dir = std::filesystem::temp_directory_path() / ("tpl_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / "notes");
  std::ofstream(dir / "notes" / "page.mustache") << "page {{x}}";
  std::ofstream(dir / "readme.txt") << "{{#not a template";
  auto t = Templates::load(dir.string());
  ASSERT_TRUE(t) << t.message();
  EXPECT_EQ(t.value()->render("notes/page.mustache", {{"x", 1}}, nullptr).value(), "page 1");
  EXPECT_EQ(t.value()->render("notes/page", {{"x", 2}}, nullptr).value(), "page 2");
  std::ofstream(dir / "broken.mustache") << "{{#a}}";
  auto bad = Templates::load(dir.string());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("broken.mustache"), std::string::npos) << bad.message();
  std::filesystem::remove_all(dir);
  auto missing = Templates::load(dir.string());
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing.value()->size(), 0u);
}

TEST(TemplatesTest, FragmentIsRenderedOnceAndSharedUntilItsGroupIsInvalidated) {
  ManualClock clock;
  ResponseCache cache(clock, 1 << 20);
  Templates t;
  ASSERT_TRUE(t.add("a", "A:{{! cache id=side groups=news }}<{{headline}}>{{! /cache }}:{{page}}"));
  ASSERT_TRUE(t.add("b", "B:{{! cache id=side groups=news }}<{{headline}}>{{! /cache }}"));
  EXPECT_EQ(render(t, "a", {{"headline", "one"}, {"page", 1}}, &cache), "A:<one>:1");
  // The fragment is reused by another page even with other data...
  EXPECT_EQ(render(t, "b", {{"headline", "two"}}, &cache), "B:<one>");
  EXPECT_EQ(render(t, "a", {{"headline", "two"}, {"page", 2}}, &cache), "A:<one>:2");
  // ... until its group is invalidated.
  EXPECT_EQ(cache.invalidate_groups({"news"}), 1u);
  EXPECT_EQ(render(t, "b", {{"headline", "two"}}, &cache), "B:<two>");
  EXPECT_EQ(cache.keys(), std::vector<std::string>{"fragment:side"});
  // Without a cache, fragments render every time.
  EXPECT_EQ(render(t, "b", {{"headline", "three"}}), "B:<three>");
}

TEST(TemplatesTest, FragmentWithATimeoutExpires) {
  ManualClock clock;
  ResponseCache cache(clock, 1 << 20);
  Templates t;
  ASSERT_TRUE(t.add("a", "{{! cache id=clock timeout=10 }}{{v}}{{! /cache }}"));
  EXPECT_EQ(render(t, "a", {{"v", 1}}, &cache), "1");
  clock.advance(9999);
  EXPECT_EQ(render(t, "a", {{"v", 2}}, &cache), "1");
  clock.advance(1);
  EXPECT_EQ(render(t, "a", {{"v", 3}}, &cache), "3");
}

TEST(TemplatesTest, BadFragmentsAreLoadErrors) {
  Templates t;
  for (const char* bad : {"{{! cache id=x }}open", "close{{! /cache }}", "{{! cache groups=a }}x{{! /cache }}",
                          "{{! cache id=a }}{{! cache id=b }}{{! /cache }}{{! /cache }}",
                          "{{! cache id=a type=forever }}x{{! /cache }}", "{{! cache id=a color=red }}x{{! /cache }}",
                          "{{#s}}{{! cache id=a }}x{{! /cache }}{{/s}}"}) {
    EXPECT_FALSE(t.add("bad", bad)) << bad;
  }
}

TEST(TemplatesTest, RendersFromManyThreadsAtOnce) {
  ManualClock clock;
  ResponseCache cache(clock, 1 << 20);
  Templates t;
  ASSERT_TRUE(t.add("a", "{{#items}}<{{.}}>{{/items}}{{! cache id=f }}{{x}}{{! /cache }}"));
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < 500; ++n) {
        auto r = t.render("a", {{"items", {1, 2}}, {"x", "f"}}, &cache);
        if (!r || r.value() != "<1><2>f") wrong++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace tether
