// The contract between the status JSON a worker writes (status_json, also
// its heartbeat's figures) and the figures decoder that every reader of
// them uses (registry/figures.h): a worker's own status must decode, with
// every section status_json has, or ?scope=host answers 503 and every
// heartbeat is refused as heartbeat.bad_figures. A shape the decoder does
// not know is still refused when its values have the wrong type.
#include <gtest/gtest.h>

#include "common/firewall.h"
#include "common/json.h"
#include "registry/figures.h"
#include "support/own_status.h"

namespace tether {
namespace {

using nlohmann::json;
using registry::Figures;

TEST(StatusFiguresTest, AWorkersOwnStatusDecodesAsFigures) {
  test_support::OwnStatus own(3);
  own.sessions.refused_full = 2;
  own.sessions.refused_queued = 5;
  own.sessions.ended_idle = 1;
  json mine = own.json();
  auto f = Figures::own(mine);
  ASSERT_TRUE(f) << f.message();
  EXPECT_EQ(f->json()["sessions"]["refused"]["full"], 2);
  EXPECT_EQ(f->json()["sessions"]["refused"]["queued"], 5);
  // What another worker reads back from the heartbeat decodes too.
  ASSERT_TRUE(Figures::decode(f->json().dump(), "h1", 3));
}

TEST(StatusFiguresTest, SessionRefusalsOfTheWrongTypeAreRefused) {
  for (const char* sessions :
       {R"({"refused":5})", R"({"refused":{"full":"x"}})", R"({"refused":[1]})", R"({"refused":{"full":{"a":1}}})"}) {
    std::string text = std::string(R"({"host":"h1","worker":5,"sessions":)") + sessions + "}";
    EXPECT_FALSE(Figures::decode(text, "h1", 5)) << text;
  }
  EXPECT_TRUE(Figures::decode(R"({"host":"h1","worker":5,"sessions":{"refused":{"full":1,"queued":0}}})", "h1", 5));
}

// The "errors" section (firewall counts, with texts from outside in it) is
// part of the figures too.
TEST(StatusFiguresTest, TheErrorsSectionDecodesToo) {
  test_support::OwnStatus own(3);
  firewall::caught("test.status_figures", "boom \xff");
  firewall::refused("test.status_figures", "bad \xff");
  firewall::thread_stopped("test.status_figures", "stopped \xff");
  own.sections["cache"] = [] { return json{{"entries", 1}, {"bytes", 2}}; };
  json status = own.json();
  ASSERT_TRUE(status.contains("errors"));
  auto decoded = Figures::decode(json_text(status), "h1", 3);
  EXPECT_TRUE(decoded) << decoded.message();
}

}  // namespace
}  // namespace tether
