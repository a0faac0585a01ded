// Workflow pieces without Redis: the step answer parser, the definitions
// in tether.json, key substitution, the ticket's JSON view.
#include <gtest/gtest.h>

#include "workflow/definition.h"
#include "workflow/step_response.h"
#include "workflow/tickets.h"

namespace tether::workflow {
namespace {

TEST(StepResponse, FullAnswer) {
  auto r = parse_step_response(
      R"({"name":"fetch","data":{"a":1},"next":[{"name":"x","url":"http://h/x"},{"name":"y","url":"https://h/y"}],"parallel":"yes"})");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->name, "fetch");
  EXPECT_EQ(r->data["a"], 1);
  ASSERT_EQ(r->next.size(), 2u);
  EXPECT_EQ(r->next[1].url, "https://h/y");
  EXPECT_TRUE(r->parallel);
}

TEST(StepResponse, DefaultsEndTheChain) {
  auto r = parse_step_response(R"({"name":"last"})");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->data.is_null());
  EXPECT_TRUE(r->next.empty());
  EXPECT_FALSE(r->parallel);
  EXPECT_TRUE(parse_step_response(R"({"name":"n","next":null,"parallel":"no"})"));
}

TEST(StepResponse, ErrorsNameTheField) {
  struct Case {
    const char* body;
    const char* want;
  } cases[] = {
      {"", "not JSON"},
      {"{", "not JSON"},
      {"[1]", "JSON object"},
      {R"({"data":1})", "'name'"},
      {R"({"name":""})", "'name'"},
      {R"({"name":3})", "'name'"},
      {R"({"name":"a","parallel":true})", "'parallel'"},
      {R"({"name":"a","parallel":"maybe"})", "'parallel'"},
      {R"({"name":"a","next":{}})", "'next'"},
      {R"({"name":"a","next":[1]})", "'next'"},
      {R"({"name":"a","next":[{"url":"http://h"}]})", "'next[].name'"},
      {R"({"name":"a","next":[{"name":"b","url":"ftp://h"}]})", "'next[].url'"},
      {R"({"name":"a","next":[{"name":"b"}]})", "'next[].url'"},
  };
  for (const auto& c : cases) {
    auto r = parse_step_response(c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_NE(r.message().find(c.want), std::string::npos) << c.body << " -> " << r.message();
  }
}

TEST(StepResponse, TooManyNextSteps) {
  nlohmann::json j = {{"name", "a"}, {"next", nlohmann::json::array()}};
  for (size_t i = 0; i <= kMaxNextSteps; ++i) j["next"].push_back({{"name", "b"}, {"url", "http://h/"}});
  EXPECT_FALSE(parse_step_response(j.dump()));
}

TEST(Definitions, AbsentMeansNone) {
  auto d = parse_definitions(nullptr, "t.json");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->empty());
}

TEST(Definitions, DefaultsAndOverrides) {
  auto d = parse_definitions(nlohmann::json::parse(R"({"thumbs": {"start_point_url": "http://h/s?key={key}",
      "retries": 5, "step_timeout_ms": 250, "concurrency": 0, "lease_ms": 900, "min_replicas_ack": 2}})"), "t.json");
  ASSERT_TRUE(d) << d.message();
  const Definition& w = d->at("thumbs");
  EXPECT_EQ(w.retries, 5);
  EXPECT_EQ(w.step_timeout_ms, 250);
  EXPECT_EQ(w.concurrency, 0);
  EXPECT_EQ(w.lease_ms, 900);
  EXPECT_EQ(w.max_depth, 32);
  EXPECT_EQ(w.backoff_ms, 100);
  EXPECT_EQ(w.min_replicas_ack, 2);
  EXPECT_EQ(w.replicas_ack_timeout_ms, 1000);
}

TEST(Definitions, ErrorsNameFileAndField) {
  struct Case {
    const char* json;
    const char* want;
  } cases[] = {
      {R"([1])", "field 'workflows': expected an object"},
      {R"({"a b": {"start_point_url": "http://h"}})", "'workflows.a b'"},
      {R"({"w": 3})", "'workflows.w': expected an object"},
      {R"({"w": {}})", "'workflows.w.start_point_url'"},
      {R"({"w": {"start_point_url": "h/s"}})", "'workflows.w.start_point_url'"},
      {R"({"w": {"start_point_url": "http://h", "retries": -1}})", "'workflows.w.retries': expected an integer"},
      {R"({"w": {"start_point_url": "http://h", "max_depth": 0}})", "'workflows.w.max_depth'"},
      {R"({"w": {"start_point_url": "http://h", "step_timeout_ms": "5"}})", "'workflows.w.step_timeout_ms'"},
      {R"({"w": {"start_point_url": "http://h", "lease_ms": 10}})", "'workflows.w.lease_ms'"},
      {R"({"w": {"start_point_url": "http://h", "min_replicas_ack": 17}})", "'workflows.w.min_replicas_ack'"},
      {R"({"w": {"start_point_url": "http://h", "replicas_ack_timeout_ms": 0}})",
       "'workflows.w.replicas_ack_timeout_ms'"},
      {R"({"w": {"start_point_url": "http://h", "retires": 1}})", "'workflows.w.retires': unknown field"},
  };
  for (const auto& c : cases) {
    auto d = parse_definitions(nlohmann::json::parse(c.json), "/etc/t.json");
    ASSERT_FALSE(d) << c.json;
    EXPECT_NE(d.message().find("/etc/t.json: "), std::string::npos) << d.message();
    EXPECT_NE(d.message().find(c.want), std::string::npos) << c.json << " -> " << d.message();
  }
}

TEST(Definitions, KeyIsEscapedEverywhere) {
  EXPECT_EQ(substitute_key("http://h/s?key={key}&again={key}", "a b/ü"),
            "http://h/s?key=a%20b%2F%C3%BC&again=a%20b%2F%C3%BC");
  EXPECT_EQ(substitute_key("http://h/s", "k"), "http://h/s");
}

TEST(Tickets, IdsAreUuids) {
  std::string a = new_ticket_id(), b = new_ticket_id();
  EXPECT_TRUE(is_ticket_id(a));
  EXPECT_NE(a, b);
  EXPECT_EQ(a[14], '4');
  EXPECT_FALSE(is_ticket_id("not-a-uuid"));
  EXPECT_FALSE(is_ticket_id(a.substr(0, 35) + "g"));
}

TEST(Tickets, JsonView) {
  std::map<std::string, std::string> h = {
      {"payload.key", "k"}, {"payload.data", "{\"x\":1}"}, {"status.current", "failed"},
      {"status.enqueued.time", "10"}, {"status.failed.time", "20"}, {"error", "boom"}, {"steps", "1"},
      {"step.0.name", "s"}, {"step.0.url", "http://h"}, {"step.0.status", "failed"}, {"step.0.data", "null"},
      {"step.0.error", "HTTP 500"}, {"step.0.attempts", "3"}};
  auto t = decode_ticket(h);
  ASSERT_TRUE(t && *t) << t.message();
  auto j = ticket_json("w", "id", **t);
  EXPECT_EQ(j["data"]["x"], 1);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_EQ(j["times"]["enqueued"], 10);
  EXPECT_EQ(j["times"]["failed"], 20);
  EXPECT_EQ(j["error"], "boom");
  ASSERT_EQ(j["steps"].size(), 1u);
  EXPECT_EQ(j["steps"][0]["error"], "HTTP 500");
  EXPECT_EQ(j["steps"][0]["attempts"], 3);
}

}  // namespace
}  // namespace tether::workflow
