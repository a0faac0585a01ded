// Tests the dispatch rules (src/http/router): building, rule order, captures and errors.
#include <gtest/gtest.h>

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
// (found by tests/fuzz/router_fuzz); now anything past kMaxPathBytes is 414.
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

}  // namespace
}  // namespace tether
