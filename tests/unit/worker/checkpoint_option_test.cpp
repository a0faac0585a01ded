// Tests the checkpoint opt-in's parsing: a session rule's "checkpoint"
// option (src/worker/site.cpp), the router's rule options (src/http/router),
// and the top-level max_snapshot_bytes (src/config/config.cpp).
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "http/router.h"
#include "worker/site.h"

namespace tether {
namespace {

using nlohmann::json;

TEST(CheckpointOptionTest, AcceptsAnIntervalInRange) {
  auto ok = parse_checkpoint_option(json{{"every_ms", 1000}});
  ASSERT_TRUE(ok) << ok.message();
  EXPECT_EQ(*ok, 1000);
  EXPECT_TRUE(parse_checkpoint_option(json{{"every_ms", 100}}));
}

TEST(CheckpointOptionTest, RefusesWhatIsMalformed) {
  for (const json& bad : {json(1000), json("1s"), json::object(), json{{"every_ms", 99}}, json{{"every_ms", -1}},
                          json{{"every_ms", 1.5}}, json{{"every_ms", "1000"}}, json{{"every_ms", 86400001}},
                          json{{"every_ms", 1000}, {"extra", 1}}}) {
    auto r = parse_checkpoint_option(bad);
    EXPECT_FALSE(r) << bad.dump();
  }
  EXPECT_NE(parse_checkpoint_option(json{{"every_ms", 50}}).message().find("from 100"), std::string::npos);
  EXPECT_NE(parse_checkpoint_option(json{{"every", 50}}).message().find("unknown key 'every'"), std::string::npos);
}

class Fixed final : public RouteHandler {
 public:
  Response serve(Request&, const RouteMatch&) override { return Response::text("x"); }
};

std::map<std::string, RouteFactory> kinds() {
  std::map<std::string, RouteFactory> f;
  for (const char* k : {"session", "file"}) {
    f[k] = [](const json&) -> Result<std::unique_ptr<RouteHandler>> { return std::unique_ptr<RouteHandler>(new Fixed); };
  }
  return f;
}

TEST(CheckpointOptionTest, TheRouterHandsARuleOptionToItsCheckWithTheRulesKindAndSpec) {
  std::string seen;
  std::map<std::string, RuleOption> options{
      {"checkpoint", [&](const std::string& kind, const json& spec, const json& option) -> Status {
         seen = kind + " " + spec.dump() + " " + option.dump();
         if (kind != "session") return Status::error("only a session rule checkpoints");
         return Status::ok();
       }}};
  json rules = json::parse(R"([{"match": "^/", "session": "notes", "checkpoint": {"every_ms": 500}}])");
  auto r = Router::build(rules, kinds(), nullptr, options);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(seen, R"(session "notes" {"every_ms":500})");
  json on_file = json::parse(R"([{"match": "^/s/", "file": "/tmp"}, {"match": "^/", "file": "/x", "checkpoint": {}}])");
  auto refused = Router::build(on_file, kinds(), nullptr, options);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.message().find("routes[1].checkpoint: only a session rule"), std::string::npos) << refused.message();
  // Without the option given to build(), the key is unknown.
  auto unknown = Router::build(rules, kinds());
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.message().find("unknown key 'checkpoint'"), std::string::npos) << unknown.message();
}

TEST(CheckpointOptionTest, MaxSnapshotBytesHasADefaultAndARange) {
  const char* base = R"({"listen": "unix:/tmp/x/w{worker}.sock", "key_file": "k")";
  auto d = parse_config(std::string(base) + "}", "/t/tether.json");
  ASSERT_TRUE(d) << d.message();
  EXPECT_EQ(d->max_snapshot_bytes, 1 << 20);
  auto set = parse_config(std::string(base) + R"(, "max_snapshot_bytes": 65536})", "/t/tether.json");
  ASSERT_TRUE(set) << set.message();
  EXPECT_EQ(set->max_snapshot_bytes, 65536);
  for (const char* bad : {R"(, "max_snapshot_bytes": 10})", R"(, "max_snapshot_bytes": "1M"})",
                          R"(, "max_snapshot_bytes": 1000000000})"}) {
    auto r = parse_config(std::string(base) + bad, "/t/tether.json");
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.message().find("max_snapshot_bytes"), std::string::npos) << r.message();
  }
}

}  // namespace
}  // namespace tether
