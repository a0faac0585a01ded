// Tests the dispatch rules (src/http/router): building, rule order, captures and errors.
#include <gtest/gtest.h>

#include <chrono>

#include "http/router.h"

namespace tether {
namespace {

using nlohmann::json;

// A fake kind: spec is a tag; the response body is "<tag>:<capture>".
class Echo final : public RouteHandler {
 public:
  explicit Echo(std::string tag) : tag_(std::move(tag)) {}
  Response serve(Request& req, const RouteMatch& match) override {
    return Response::text(tag_ + ":" + match.capture).header("X-Method", req.method);
  }

 private:
  std::string tag_;
};

std::map<std::string, RouteFactory> factories() {
  std::map<std::string, RouteFactory> f;
  f["echo"] = [](const json& spec) -> Result<std::unique_ptr<RouteHandler>> {
    if (!spec.is_string()) return Result<std::unique_ptr<RouteHandler>>::error("expected a tag string");
    return std::unique_ptr<RouteHandler>(new Echo(spec.get<std::string>()));
  };
  f["other"] = [](const json&) -> Result<std::unique_ptr<RouteHandler>> {
    return std::unique_ptr<RouteHandler>(new Echo("other"));
  };
  return f;
}

Router build_ok(const json& rules) {
  auto r = Router::build(rules, factories());
  if (!r) throw std::runtime_error(r.message());
  return std::move(r.value());
}

// Expects build to fail with a message containing every one of parts.
void expect_refused(const json& rules, std::initializer_list<std::string> parts) {
  auto r = Router::build(rules, factories());
  ASSERT_FALSE(r) << "accepted: " << rules.dump();
  for (const auto& p : parts) EXPECT_NE(r.message().find(p), std::string::npos) << "'" << p << "' not in: " << r.message();
}

Response get(const Router& router, const std::string& path, const std::string& method = "GET") {
  Request req;
  req.method = method;
  req.path = path;
  return router.dispatch(req);
}

// Whether path matches the single-rule router for pattern.
bool matches(const std::string& pattern, const std::string& path) {
  Router r = build_ok(json::array({{{"match", pattern}, {"echo", "x"}}}));
  RouteMatch m;
  return r.match(path, &m) == 0;
}

TEST(RouterTest, FirstMatchingRuleWins) {
  Router r = build_ok(json::parse(R"([
    {"match": "^/a/b", "echo": "specific"},
    {"match": "^/a", "echo": "general"},
    {"match": "^/a/b/c", "echo": "never"},
    {"match": "", "echo": "fallback"}])"));
  EXPECT_EQ(r.size(), 4u);
  EXPECT_EQ(get(r, "/a/b/c").body, "specific:/a/b/c");
  EXPECT_EQ(get(r, "/a/x").body, "general:/a/x");
  EXPECT_EQ(get(r, "/zzz").body, "fallback:/zzz");
  RouteMatch m;
  EXPECT_EQ(r.match("/a/b/c", &m), 0);
  EXPECT_EQ(r.match("/a", &m), 1);
  EXPECT_EQ(r.match("/q", &m), 3);
}

TEST(RouterTest, OrderIsTheArrayOrder) {
  Router r = build_ok(json::parse(R"([
    {"match": "^/a", "echo": "general"},
    {"match": "^/a/b", "echo": "specific"}])"));
  EXPECT_EQ(get(r, "/a/b").body, "general:/a/b");
}

TEST(RouterTest, CaptureIsGroupOneOrTheWholePath) {
  Router r = build_ok(json::parse(R"([
    {"match": "^/user/([0-9]+)/(\\w+)$", "echo": "user"},
    {"match": "^/static/", "echo": "static"},
    {"match": "^/opt(/x)?$", "echo": "opt"}])"));
  EXPECT_EQ(get(r, "/user/42/edit").body, "user:42");
  EXPECT_EQ(get(r, "/static/css/a.css").body, "static:/static/css/a.css");
  EXPECT_EQ(get(r, "/opt/x").body, "opt:/x");
  EXPECT_EQ(get(r, "/opt").body, "opt:");  // group 1 exists but did not take part
}

TEST(RouterTest, NoMatchIs404) {
  Router r = build_ok(json::parse(R"([{"match": "^/only$", "echo": "x"}])"));
  RouteMatch m;
  EXPECT_EQ(r.match("/other", &m), -1);
  EXPECT_EQ(r.match("/only/", &m), -1);
  Response resp = get(r, "/other");
  EXPECT_EQ(resp.status, 404);
  EXPECT_EQ(get(build_ok(json::array()), "/").status, 404);
}

// A 1 MiB path through "(.*)" overflowed the thread's stack inside std::regex
// (found by tests/fuzz/router_fuzz). RE2 needs no stack per byte; anything
// past kMaxPathBytes stays a 414 as a protocol limit (nginx's own).
TEST(RouterTest, PathBeyondTheLimitIs414WithoutRunningTheRegex) {
  Router r = build_ok(json::parse(R"([{"match": "^/static/(.*)$", "echo": "s"}, {"match": "", "echo": "any"}])"));
  std::string at_limit = "/static/" + std::string(kMaxPathBytes - 8, 'a');
  RouteMatch m;
  EXPECT_EQ(r.match(at_limit, &m), 0);
  EXPECT_EQ(m.capture.size(), kMaxPathBytes - 8);
  EXPECT_EQ(get(r, at_limit).status, 200);
  EXPECT_EQ(r.match(at_limit + "a", &m), -1);
  EXPECT_EQ(get(r, at_limit + "a").status, 414);
  EXPECT_EQ(get(r, "/static/" + std::string(1 << 20, 'a')).status, 414);
}

TEST(RouterTest, HandlerSeesTheRequest) {
  Router r = build_ok(json::parse(R"([{"match": "^/", "other": null}])"));
  Response resp = get(r, "/p", "POST");
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "other:/p");
  ASSERT_EQ(resp.headers.size(), 2u);
  EXPECT_EQ(resp.headers[1], (std::pair<std::string, std::string>("X-Method", "POST")));
}

TEST(RouterTest, InvalidRegexRefusedNamingTheRule) {
  expect_refused(json::parse(R"([{"match": "^/", "echo": "a"}, {"match": "^/(", "echo": "b"}])"),
                 {"routes[1].match", "^/("});
  expect_refused(json::parse(R"([{"match": "[z-a]", "echo": "a"}])"), {"routes[0].match"});
}

// Patterns are RE2: what it cannot match in linear time (backreferences,
// lookaround) is refused at build, naming the rule, the pattern and RE2's reason.
TEST(RouterTest, PatternsRE2RefusesAreRefusedWithTheRuleAndTheReason) {
  expect_refused(json::parse(R"([{"match": "^/", "echo": "a"}, {"match": "^/(a)\\1", "echo": "b"}])"),
                 {"routes[1].match", "^/(a)\\1", "invalid escape sequence"});
  expect_refused(json::parse(R"j([{"match": "^/(?=x)", "echo": "a"}])j"),
                 {"routes[0].match", "^/(?=x)", "invalid perl operator"});
  expect_refused(json::parse(R"j([{"match": "^/(?<!x)y", "echo": "a"}])j"), {"routes[0].match", "^/(?<!x)y"});
  expect_refused(json::parse(R"([{"match": "a{1000}{1000}", "echo": "a"}])"), {"routes[0].match", "a{1000}{1000}"});
}

TEST(RouterTest, MatchMustBeAString) {
  expect_refused(json::parse(R"([{"echo": "a"}])"), {"routes[0].match"});
  expect_refused(json::parse(R"([{"match": 5, "echo": "a"}])"), {"routes[0].match"});
}

TEST(RouterTest, UnknownKindRefusedNamingTheKnownOnes) {
  expect_refused(json::parse(R"([{"match": "^/", "sesion": "app"}])"), {"routes[0]", "sesion", "echo", "other"});
}

TEST(RouterTest, TwoKindsInOneRuleRefused) {
  expect_refused(json::parse(R"([{"match": "^/", "echo": "a", "other": 1}])"), {"routes[0]", "echo", "other", "one kind"});
}

TEST(RouterTest, RuleWithoutKindRefused) {
  expect_refused(json::parse(R"([{"match": "^/a", "echo": "a"}, {"match": "^/"}])"), {"routes[1]", "echo", "other"});
}

TEST(RouterTest, NonObjectRuleRefused) {
  expect_refused(json::parse(R"([{"match": "^/", "echo": "a"}, "^/b"])"), {"routes[1]"});
  expect_refused(json::parse(R"([["^/", "echo"]])"), {"routes[0]"});
  expect_refused(json::parse(R"({"match": "^/", "echo": "a"})"), {"routes"});
}

TEST(RouterTest, FactoryErrorIsPrefixedWithTheRuleAndKind) {
  expect_refused(json::parse(R"([{"match": "^/", "echo": "a"}, {"match": "^/", "other": 0},
                                 {"match": "^/", "echo": 42}])"),
                 {"routes[2].echo: expected a tag string"});
}

TEST(RouterTest, AlternationIsNotCutShortByThePrefixCheck) {
  EXPECT_TRUE(matches("^/a|^/b", "/a"));
  EXPECT_TRUE(matches("^/a|^/b", "/b/c"));
  EXPECT_FALSE(matches("^/a|^/b", "/c"));
  EXPECT_TRUE(matches("^/(x|y)", "/y"));
}

TEST(RouterTest, QuantifiersAreNotCutShortByThePrefixCheck) {
  EXPECT_TRUE(matches("^/ab?c", "/ac"));
  EXPECT_TRUE(matches("^/ab?c", "/abc"));
  EXPECT_FALSE(matches("^/ab?c", "/abbc"));
  EXPECT_TRUE(matches("^/ab*c", "/ac"));
  EXPECT_TRUE(matches("^/ab{0,2}c", "/ac"));
  EXPECT_TRUE(matches("^/x+", "/xx"));
  EXPECT_TRUE(matches("^/x+", "/x"));
  EXPECT_FALSE(matches("^/x+", "/y"));
  EXPECT_TRUE(matches("^/a*", "/"));
  EXPECT_TRUE(matches("^/a[bc]?d", "/ad"));
  EXPECT_TRUE(matches("^/a(?:bc)?d", "/ad"));
}

TEST(RouterTest, EscapesAndClassesAreNotTakenLiterally) {
  EXPECT_TRUE(matches("^/a\\.b", "/a.b"));
  EXPECT_FALSE(matches("^/a\\.b", "/axb"));
  EXPECT_TRUE(matches("^/a.b", "/axb"));
  EXPECT_TRUE(matches("^\\/x", "/x"));
  EXPECT_TRUE(matches("^/\\d+$", "/123"));
  EXPECT_TRUE(matches("^[/]q", "/q"));
  EXPECT_TRUE(matches("^/a$", "/a"));
  EXPECT_FALSE(matches("^/a$", "/ab"));
}

TEST(RouterTest, UnanchoredPatternsMatchAnywhere) {
  EXPECT_TRUE(matches("foo", "/a/foo"));
  EXPECT_TRUE(matches("foo", "/foo/bar"));
  EXPECT_FALSE(matches("foo", "/fo/o"));
  EXPECT_TRUE(matches("\\.css$", "/a/b.css"));
  EXPECT_FALSE(matches("^/a", "/b/a"));  // anchored: only at the start
}

TEST(RouterTest, TheFirstOfManyMatchingRulesWinsInOnePass) {
  json rules = json::array();
  for (int i = 0; i < 60; ++i) rules.push_back({{"match", "^/r" + std::to_string(i) + "(/.*)?$"}, {"echo", "r"}});
  rules.push_back({{"match", "^/r1"}, {"echo", "late"}});  // after ^/r1(/.*)?$ and ^/r10..19
  rules.push_back({{"match", "([0-9]+)$"}, {"echo", "digits"}});
  Router r = build_ok(rules);
  RouteMatch m;
  EXPECT_EQ(r.match("/r0", &m), 0);
  EXPECT_EQ(r.match("/r59/x", &m), 59);
  EXPECT_EQ(m.capture, "/x");
  EXPECT_EQ(r.match("/r1x", &m), 60);
  EXPECT_EQ(m.capture, "/r1x");
  EXPECT_EQ(r.match("/q/123", &m), 61);
  EXPECT_EQ(m.capture, "123");
  EXPECT_EQ(r.match("/q", &m), -1);
}

TEST(RouterTest, DispatchSaysWhichRuleServed) {
  Router r = build_ok(json::parse(R"([{"match": "^/a", "echo": "a"}, {"match": "^/b", "echo": "b"}])"));
  Request req;
  req.path = "/b";
  int rule = 7;
  EXPECT_EQ(r.dispatch(req, nullptr, &rule).body, "b:/b");
  EXPECT_EQ(rule, 1);
  req.path = "/c";
  EXPECT_EQ(r.dispatch(req, nullptr, &rule).status, 404);
  EXPECT_EQ(rule, -1);
  req.path = "/a" + std::string(kMaxPathBytes, 'a');
  EXPECT_EQ(r.dispatch(req, nullptr, &rule).status, 414);
  EXPECT_EQ(rule, -1);
}

// What std::regex took exponential time (or the whole stack) on: RE2 is
// linear in the path, so the longest path through many rules is quick.
TEST(RouterTest, PatternsThatBacktrackedMatchTheLongestPathQuickly) {
  Router r = build_ok(json::parse(R"([
    {"match": "^(a+)+b$", "echo": "nested"},
    {"match": "^(/([^/]+))+/x$", "echo": "segments"},
    {"match": "([^/]+)([^/]+)([^/]+)([^/]+)([^/]+)z", "echo": "five"},
    {"match": "^/(.*)$", "echo": "all"}])"));
  std::string as = "/" + std::string(kMaxPathBytes - 1, 'a');
  std::string segs;
  while (segs.size() + 2 <= kMaxPathBytes) segs += "/a";
  auto start = std::chrono::steady_clock::now();
  RouteMatch m;
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(r.match(as, &m), 3);
    EXPECT_EQ(m.capture.size(), kMaxPathBytes - 1);
    EXPECT_EQ(r.match(segs, &m), 3);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// Paths and patterns are bytes (Latin-1 mode), as they were under std::regex
// over std::string: a path that is not UTF-8 is matched, not refused.
TEST(RouterTest, PathsAndPatternsAreBytes) {
  EXPECT_TRUE(matches("^/a.b$", "/a\xff" "b"));
  EXPECT_TRUE(matches("^/caf\xc3\xa9$", "/caf\xc3\xa9"));  // a UTF-8 literal in the pattern
  EXPECT_FALSE(matches("^/caf.$", "/caf\xc3\xa9"));          // one byte per '.'
  EXPECT_TRUE(matches("^/caf..$", "/caf\xc3\xa9"));
  EXPECT_TRUE(matches("^/n\x01ul", std::string("/n\x01ul")));
  EXPECT_FALSE(matches("^/a$", "/a\n"));  // '$' is the end of the path only
  EXPECT_FALSE(matches("^/a.b", "/a\nb"));  // '.' is not a newline
}

}  // namespace
}  // namespace tether
