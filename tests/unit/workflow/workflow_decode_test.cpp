// The decoders of what the workflow engine reads back from Redis (ticket
// hashes, payloads, queue items), each refusal with the real decoder, on
// replies built by hand; the step answer and the definitions' new bounds.
#include <gtest/gtest.h>

#include <deque>

#include "common/json.h"
#include "workflow/definition.h"
#include "workflow/step_response.h"
#include "workflow/ticket_decode.h"

namespace tether::workflow {
namespace {

// Builds hiredis replies that live as long as the builder.
class Replies {
 public:
  redisReply* str(const std::string& s) {
    strings_.push_back(s);
    redisReply* r = make(REDIS_REPLY_STRING);
    r->str = strings_.back().data();
    r->len = strings_.back().size();
    return r;
  }
  redisReply* nil() { return make(REDIS_REPLY_NIL); }
  redisReply* integer(long long v) {
    redisReply* r = make(REDIS_REPLY_INTEGER);
    r->integer = v;
    return r;
  }
  redisReply* array(std::vector<redisReply*> items) {
    arrays_.push_back(std::move(items));
    redisReply* r = make(REDIS_REPLY_ARRAY);
    r->elements = arrays_.back().size();
    r->element = arrays_.back().data();
    return r;
  }
  redisReply* strings(const std::vector<std::string>& items) {
    std::vector<redisReply*> out;
    for (const auto& s : items) out.push_back(str(s));
    return array(out);
  }

 private:
  redisReply* make(int type) {
    replies_.emplace_back();
    redisReply* r = &replies_.back();
    *r = redisReply{};
    r->type = type;
    return r;
  }
  std::deque<redisReply> replies_;
  std::deque<std::string> strings_;
  std::deque<std::vector<redisReply*>> arrays_;
};

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ---- ticket hashes (HGETALL)
TEST(TicketDecode, HashReplyOfTheWrongShapeIsRefused) {
  Replies r;
  EXPECT_FALSE(decode_ticket(static_cast<const redisReply*>(nullptr)));
  EXPECT_FALSE(decode_ticket(r.str("a string")));
  EXPECT_FALSE(decode_ticket(r.integer(3)));
  auto odd = decode_ticket(r.strings({"status.current", "done", "runs"}));
  ASSERT_FALSE(odd);
  EXPECT_TRUE(has(odd.message(), "pairs")) << odd.message();
  auto mixed = decode_ticket(r.array({r.str("status.current"), r.integer(1)}));
  ASSERT_FALSE(mixed);
  EXPECT_TRUE(has(mixed.message(), "strings")) << mixed.message();
  auto nested_reply = decode_ticket(r.array({r.str("x"), r.array({})}));
  EXPECT_FALSE(nested_reply);
}

TEST(TicketDecode, EmptyHashIsNoTicket) {
  Replies r;
  auto t = decode_ticket(r.array({}));
  ASSERT_TRUE(t) << t.message();
  EXPECT_FALSE(*t);
}

TEST(TicketDecode, WrongFieldTypesAreRefusedNamingTheField) {
  struct Case {
    std::map<std::string, std::string> h;
    const char* want;
  } cases[] = {
      {{{"payload.key", "k"}}, "'status.current'"},
      {{{"status.current", "exploded"}}, "'status.current': expected a ticket state, got 'exploded'"},
      {{{"status.current", "done\xff"}}, "got 'done\xEF\xBF\xBD'"},
      {{{"status.current", "done"}, {"runs", "many"}}, "'runs': expected an integer"},
      {{{"status.current", "done"}, {"runs", "-1"}}, "'runs'"},
      {{{"status.current", "done"}, {"runs", "1 "}}, "'runs'"},
      {{{"status.current", "done"}, {"finished", "99999999999999999999"}}, "'finished'"},
      {{{"status.current", "done"}, {"run_us", ""}}, "'run_us'"},
      {{{"status.current", "done"}, {"status.done.time", "soon"}}, "'status.done.time'"},
      {{{"status.current", "done"}, {"steps", "99999999999"}}, "'steps': expected an integer from 0 to 100000"},
      {{{"status.current", "done"}, {"steps", "1"}, {"step.0.attempts", "x"}}, "'step.0.attempts'"},
  };
  for (const auto& c : cases) {
    auto t = decode_ticket(c.h);
    ASSERT_FALSE(t) << c.want;
    EXPECT_TRUE(has(t.message(), c.want)) << c.want << " -> " << t.message();
    EXPECT_TRUE(valid_utf8(t.message())) << t.message();
  }
}

TEST(TicketDecode, InvalidUtf8IsKeptAndWrittenReplaced) {
  std::map<std::string, std::string> h = {{"status.current", "failed"}, {"payload.key", "k\xff"},
                                          {"payload.data", "\"\xfe\""},  {"status.\xff.time", "12"},
                                          {"\xff\xfe", "\xff"},          {"error", "e\xc0\xaf"},
                                          {"worker", "h1-\xff"}};
  auto t = decode_ticket(h);
  ASSERT_TRUE(t && *t) << t.message();
  EXPECT_EQ((*t)->key, "k\xff");
  EXPECT_EQ((*t)->data, "\"\xfe\"");  // not valid JSON (nlohmann refuses the byte): shown as its text
  std::string text = json_text(ticket_json("w", "id", **t));
  auto back = parse_json(text);
  ASSERT_TRUE(back) << text;
  EXPECT_EQ((*back)["key"], "k\xEF\xBF\xBD");
  EXPECT_EQ((*back)["times"]["\xEF\xBF\xBD"], 12);
  EXPECT_EQ((*back)["error"], "e\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ((*back)["worker"], "h1-\xEF\xBF\xBD");
}

TEST(TicketDecode, DeepDataIsShownAsItsText) {
  std::string deep = nested(300000);
  std::map<std::string, std::string> h = {{"status.current", "done"}, {"payload.data", deep},
                                          {"steps", "1"}, {"step.0.data", deep}, {"step.0.name", "s"}};
  auto t = decode_ticket(h);
  ASSERT_TRUE(t && *t) << t.message();
  EXPECT_EQ((*t)->data, deep);
  ASSERT_EQ((*t)->steps.size(), 1u);
  EXPECT_EQ((*t)->steps[0].data, deep);
  EXPECT_FALSE(json_text(ticket_json("w", "id", **t)).empty());
}

TEST(TicketDecode, StepsAreReadUpToTheirCount) {
  std::map<std::string, std::string> h = {{"status.current", "running"}, {"steps", "2"},
                                          {"step.0.name", "a"}, {"step.0.data", "{\"x\":1}"},
                                          {"step.1.name", "b"}, {"step.1.error", "boom"},
                                          {"step.2.name", "beyond the count"}};
  auto t = decode_ticket(h);
  ASSERT_TRUE(t && *t) << t.message();
  ASSERT_EQ((*t)->steps.size(), 2u);
  EXPECT_EQ((*t)->steps[0].data["x"], 1);
  EXPECT_FALSE((*t)->steps[0].error);
  EXPECT_EQ((*t)->steps[1].error, "boom");
}

// A forged count with no step fields behind it (found by ticket_fuzz: 99,999
// empty steps, megabytes of answer) is refused.
TEST(TicketDecode, AStepCountPastTheHashIsRefused) {
  std::map<std::string, std::string> h = {{"status.current", "running"}, {"steps", "99999"}};
  auto t = decode_ticket(h);
  ASSERT_FALSE(t);
  EXPECT_NE(t.message().find("field 'steps'"), std::string::npos) << t.message();
}

// ---- payloads (HMGET payload.key payload.data), as the runner reads them
TEST(TicketDecode, PayloadRefusals) {
  Replies r;
  struct Case {
    const redisReply* reply;
    const char* want;
  } cases[] = {
      {nullptr, "HMGET"},
      {r.str("x"), "HMGET"},
      {r.strings({"k"}), "HMGET"},
      {r.array({r.nil(), r.str("null")}), "'payload.key': expected a non-empty string"},
      {r.array({r.integer(5), r.str("null")}), "'payload.key'"},
      {r.strings({"", "null"}), "'payload.key'"},
      {r.strings({"k\xff", "null"}), "'payload.key': not valid UTF-8"},
      {r.strings({"\xed\xa0\x80", "null"}), "not valid UTF-8"},  // a surrogate
      {r.strings({std::string(kMaxTicketKeyBytes + 1, 'k'), "null"}), "longer than 1024"},
      {r.array({r.str("k"), r.nil()}), "'payload.data': expected JSON text"},
      {r.array({r.str("k"), r.array({})}), "'payload.data'"},
      {r.strings({"k", "{not json"}), "'payload.data': not valid JSON"},
      {r.strings({"k", "\"\xff\""}), "'payload.data': not valid JSON"},
      {r.strings({"k", nested(300000)}), "'payload.data': JSON nested deeper than 64"},
  };
  for (const auto& c : cases) {
    auto p = decode_payload(c.reply);
    ASSERT_FALSE(p) << c.want;
    EXPECT_TRUE(has(p.message(), c.want)) << c.want << " -> " << p.message();
    EXPECT_TRUE(valid_utf8(p.message())) << p.message();
  }
}

TEST(TicketDecode, PayloadAccepted) {
  Replies r;
  auto p = decode_payload(r.strings({"cat.jpg", "{\"owner\":\"ann\"}"}));
  ASSERT_TRUE(p) << p.message();
  EXPECT_EQ(p->key, "cat.jpg");
  EXPECT_EQ(p->data["owner"], "ann");
  auto limit = decode_payload(r.strings({"k", nested(kMaxJsonDepth)}));
  EXPECT_TRUE(limit) << limit.message();
}

// ---- queue items
TEST(TicketDecode, QueueItems) {
  Replies r;
  const std::string id = "0badc0de-0000-4000-8000-00000000000a";
  auto ok = decode_queue_item(r.str(id));
  ASSERT_TRUE(ok) << ok.message();
  EXPECT_EQ(*ok, id);
  EXPECT_FALSE(decode_queue_item(nullptr));
  EXPECT_FALSE(decode_queue_item(r.nil()));
  EXPECT_FALSE(decode_queue_item(r.integer(7)));
  EXPECT_FALSE(decode_queue_item(r.strings({id})));
  for (const std::string& bad : std::vector<std::string>{"", "not-a-ticket", "\xff", id + " ",
                                                         id.substr(0, 35) + "\xff", std::string(id).replace(8, 1, "x")}) {
    auto item = decode_queue_item(r.str(bad));
    ASSERT_FALSE(item) << bad;
    EXPECT_TRUE(has(item.message(), "expected a ticket UUID")) << item.message();
    EXPECT_TRUE(valid_utf8(item.message())) << item.message();
  }
}

// ---- step answers from outside
TEST(StepResponse, DeepAnswersAreRefusedBeforeParsing) {
  auto r = parse_step_response("{\"name\": \"x\", \"data\": " + nested(400000) + "}");
  ASSERT_FALSE(r);
  EXPECT_TRUE(has(r.message(), "nested deeper")) << r.message();
  EXPECT_FALSE(parse_step_response("{\"name\": \"\xff\"}"));
  auto shallow = parse_step_response("{\"name\": \"x\", \"data\": " + nested(10) + "}");
  EXPECT_TRUE(shallow) << shallow.message();
}

// ---- the bounds in the definitions
TEST(Definitions, BoundsDefaultsAndOverrides) {
  auto d = parse_definitions(nlohmann::json::parse(R"({"a": {"start_point_url": "http://h/s"},
      "b": {"start_point_url": "http://h/s", "max_incoming": 3, "ticket_ttl_s": 0}})"), "t.json");
  ASSERT_TRUE(d) << d.message();
  EXPECT_EQ(d->at("a").max_incoming, 100000);
  EXPECT_EQ(d->at("a").ticket_ttl_s, 604800);
  EXPECT_EQ(d->at("b").max_incoming, 3);
  EXPECT_EQ(d->at("b").ticket_ttl_s, 0);
}

TEST(Definitions, BoundsErrorsNameTheField) {
  for (const char* bad : {R"({"max_incoming": 0})", R"({"max_incoming": "10"})", R"({"max_incoming": 1.5})",
                          R"({"max_incoming": 10000000000})", R"({"ticket_ttl_s": -1})",
                          R"({"ticket_ttl_s": true})", R"({"ticket_ttl_s": 999999999999})"}) {
    auto obj = nlohmann::json::parse(bad);
    obj["start_point_url"] = "http://h/s";
    auto d = parse_definitions({{"w", obj}}, "/etc/t.json");
    ASSERT_FALSE(d) << bad;
    std::string field = obj.contains("max_incoming") ? "'workflows.w.max_incoming'" : "'workflows.w.ticket_ttl_s'";
    EXPECT_TRUE(has(d.message(), "/etc/t.json: field " + field + ": expected an integer from")) << d.message();
  }
}

}  // namespace
}  // namespace tether::workflow
