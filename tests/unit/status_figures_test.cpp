// The worker's own status JSON, as the heartbeat writes it, must pass the
// heartbeat decoder that every other worker and tetherctl read it with
// (registry/figures.h): a new section or figure of a shape the decoder
// refuses would leave every worker out of every fleet view.
#include <gtest/gtest.h>

#include "common/firewall.h"
#include "common/json.h"
#include "registry/figures.h"
#include "worker/status_route.h"

namespace tether {
namespace {

TEST(StatusFiguresTest, OwnStatusDecodesAsHeartbeatFigures) {
  Config config;
  config.host = "h1";
  config.worker = 3;
  fcgi::ServerStats server;
  SessionStats sessions;
  ForwardStats forward;
  sessions.refused_full = 2;
  firewall::caught("test.status_figures", "boom \xff");
  firewall::refused("test.status_figures", "bad \xff");
  firewall::thread_stopped("test.status_figures", "stopped \xff");
  StatusSources src{config, server, sessions, forward, nullptr, {}};
  src.sections["cache"] = [] { return nlohmann::json{{"entries", 1}, {"bytes", 2}}; };
  nlohmann::json status = status_json(src);
  ASSERT_TRUE(status.contains("errors"));
  auto decoded = registry::Figures::decode(json_text(status), "h1", 3);
  EXPECT_TRUE(decoded) << decoded.message();
  EXPECT_TRUE(registry::Figures::own(status)) << registry::Figures::own(status).message();
}

}  // namespace
}  // namespace tether
