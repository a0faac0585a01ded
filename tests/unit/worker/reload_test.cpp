// Tests the pieces of `tetherctl reload` (issue 20): the bus message
// {"type":"reload"} and its refusals, the ReloadReport a worker keeps, and
// that a worker's status with that "config" section still decodes as
// heartbeat figures (registry/figures.h).
#include <gtest/gtest.h>

#include "config/reload_report.h"
#include "redis/bus.h"
#include "registry/figures.h"
#include "support/own_status.h"

namespace tether {
namespace {

using nlohmann::json;

TEST(ReloadBusTest, ReloadDecodesWithOrWithoutHost) {
  auto all = decode_bus_message(R"({"type":"reload"})");
  ASSERT_TRUE(all) << all.message();
  EXPECT_EQ(all->type, "reload");
  EXPECT_EQ(all->host, "");
  auto one = decode_bus_message(R"({"type":"reload","host":"h2_b"})");
  ASSERT_TRUE(one) << one.message();
  EXPECT_EQ(one->host, "h2_b");
}

TEST(ReloadBusTest, BadHostRefused) {
  for (const char* bad : {R"({"type":"reload","host":""})", R"({"type":"reload","host":"h-1"})",
                          R"({"type":"reload","host":3})", R"({"type":"reload","host":null})",
                          R"({"type":"reload","host":["h1"]})", R"({"type":"reload","host":"\u00e9"})",
                          R"({"type":"reload","host":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})"}) {
    auto m = decode_bus_message(bad);
    EXPECT_FALSE(m) << bad;
    if (!m) {
      EXPECT_NE(m.message().find("reload: host"), std::string::npos) << m.message();
    }
  }
  EXPECT_FALSE(decode_bus_message("{\"type\":\"reload\",\"host\":\"h1\xff\"}"));  // invalid UTF-8: not JSON
}

TEST(ReloadReportTest, CountsEachResultAndKeepsTheLastError) {
  ReloadReport r(4);
  json f = r.figures();
  EXPECT_EQ(f["reloads"], 0);
  EXPECT_EQ(f["rules"], 4);
  EXPECT_EQ(f["last_ok"], true);
  r.failed("tether.json: field 'routes': bad \xff");
  f = r.figures();
  EXPECT_EQ(f["reloads"], 1);
  EXPECT_EQ(f["reload_failures"], 1);
  EXPECT_EQ(f["last_ok"], false);
  EXPECT_EQ(f["rules"], 4);  // the old rules stay
  EXPECT_TRUE(valid_utf8(f["last_error"].get<std::string>()));
  EXPECT_NE(f["last_error"].get<std::string>().find("routes"), std::string::npos);
  EXPECT_GT(f["last_reload"].get<int64_t>(), 0);
  r.failed(std::string(5000, 'x'));
  EXPECT_LE(r.figures()["last_error"].get<std::string>().size(), 1000u * 3);
  r.succeeded(7);
  f = r.figures();
  EXPECT_EQ(f["reloads"], 3);
  EXPECT_EQ(f["reload_failures"], 2);
  EXPECT_EQ(f["last_ok"], true);
  EXPECT_EQ(f["last_error"], "");
  EXPECT_EQ(f["rules"], 7);
}

TEST(ReloadReportTest, AWorkersStatusWithTheConfigSectionDecodesAsFigures) {
  test_support::OwnStatus own(2);
  ReloadReport report(3);
  report.failed("bad \xff\xfe file");
  own.sections["config"] = [&] { return report.figures(); };
  json mine = own.json();
  auto f = registry::Figures::own(mine);
  ASSERT_TRUE(f) << f.message();
  EXPECT_EQ(f->json()["config"]["reload_failures"], 1);
  auto back = registry::Figures::decode(f->json().dump(), "h1", 2);
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(back->json()["config"]["last_ok"], false);
}

}  // namespace
}  // namespace tether
