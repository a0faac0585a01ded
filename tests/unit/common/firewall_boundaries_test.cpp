// The exception firewall at the boundaries a worker's threads cross: a
// FastCGI request whose handler throws gets a 500 and the server goes on;
// a session-thread job whose tether code throws gets a 500 and the thread
// goes on; a bus message of the wrong shape is refused and counted, never
// handled; a hand-over envelope of the wrong shape is refused with a reason.
#include <gtest/gtest.h>
#include <sodium.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "common/firewall.h"
#include "fcgi/client.h"
#include "fcgi/listener.h"
#include "fcgi/server.h"
#include "redis/bus.h"
#include "session/pool.h"
#include "cluster/handover.h"

namespace tether {
namespace {

TEST(FirewallBoundaryTest, AThrowingHandlerGetsA500AndTheServerGoesOn) {
  char tmpl[] = "/tmp/tether-fw-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl, addr = "unix:" + dir + "/w.sock";
  auto fd = fcgi::open_listener(addr);
  ASSERT_TRUE(fd) << fd.message();
  fcgi::ServerStats stats;
  fcgi::ServerOptions opts;
  opts.threads = 2;
  opts.max_threads = 8;
  opts.keepalive_idle_s = 1;
  uint64_t caught_before = firewall::caught_count("fcgi.request");
  fcgi::FcgiServer server(
      fd.value(), opts,
      [](Request& req, fcgi::Connection&) -> Response {
        if (req.path == "/std") throw std::runtime_error("handler failed");
        if (req.path == "/int") throw 7;
        if (req.path == "/json") (void)nlohmann::json(std::string("\xff")).dump();  // type_error 316
        if (req.path == "/status5") return Response::text("odd", 5);
        return Response::text("ok");
      },
      stats);
  ASSERT_TRUE(server.start());
  fcgi::Client client;
  auto get = [&](const std::string& path) {
    fcgi::Params params = {{"REQUEST_METHOD", "GET"}, {"DOCUMENT_URI", path}, {"REQUEST_URI", path}};
    return client.call(addr, params, "", 5000, 5000);
  };
  for (const char* path : {"/std", "/int", "/json"}) {
    auto r = get(path);
    ASSERT_EQ(r.kind, fcgi::ClientResult::Kind::Ok) << path << ": " << r.error;
    EXPECT_EQ(r.response.status, 500) << path;
    auto ok = get("/");
    ASSERT_EQ(ok.kind, fcgi::ClientResult::Kind::Ok) << ok.error;
    EXPECT_EQ(ok.response.body, "ok");
  }
  auto odd = get("/status5");  // a status nginx would refuse goes out as 500
  ASSERT_EQ(odd.kind, fcgi::ClientResult::Kind::Ok) << odd.error;
  EXPECT_EQ(odd.response.status, 500);
  EXPECT_EQ(stats.failed.load(), 3u);
  EXPECT_EQ(firewall::caught_count("fcgi.request"), caught_before + 3);
  server.begin_drain();
  server.wait_drained(5000);
  server.stop();
  ::close(fd.value());
  std::filesystem::remove_all(dir);
}

// An observer that throws when told of a new session: tether code, not the
// app's handler, throws on the session thread.
class ThrowingObserver final : public SessionObserver {
 public:
  void session_created(const SessionId&, int64_t) override { throw std::runtime_error("registry queue failed"); }
  void session_used(const SessionId&, int64_t) override {}
  void session_ended(const SessionId&, EndReason) override {}
};

class Echo final : public Session {
 public:
  Response handle(const Request&) override { return Response::text("ok"); }
};

TEST(FirewallBoundaryTest, ASessionJobThatThrowsGetsA500AndTheThreadGoesOn) {
  ASSERT_GE(sodium_init(), 0);
  SteadyClock clock;
  ThrowingObserver observer;
  SessionPool pool(clock, SessionTimeouts{}, "h1-0", 1, &observer);
  pool.start();
  SessionFactory factory = [] { return std::make_unique<Echo>(); };
  uint64_t caught_before = firewall::caught_count("session.job");
  for (int i = 0; i < 3; ++i) {
    auto job = std::make_shared<SessionJob>();
    job->factory = &factory;
    job->sid = SessionId::random();
    job->create_if_missing = true;
    ASSERT_EQ(pool.post(job), Posted::Ok);
    ASSERT_TRUE(job->wait_for(std::chrono::seconds(10))) << "the session thread did not answer";
    EXPECT_EQ(job->response.status, 500);
  }
  EXPECT_EQ(firewall::caught_count("session.job"), caught_before + 3);
  // The thread still runs tasks: a kill of an unknown id answers at once.
  EXPECT_FALSE(pool.kill(SessionId::random()));
  pool.stop();
}

TEST(BusMessageTest, WrongShapesAreRefusedWithAReason) {
  for (const char* bad : {R"({"type":"kill","sid":1})", R"({"type":"kill"})", R"({"type":"kill","sid":"zz"})",
                          R"({"type":"drain","worker":1})", R"({"type":"drain","worker":"h1-"})", R"({"type":5})",
                          R"([1,2])", "not json", "\xff\xfe"}) {
    EXPECT_FALSE(decode_bus_message(bad)) << bad;
  }
  std::string deep = "{\"type\":\"kill\",\"x\":" + std::string(100000, '[') + "}";
  EXPECT_FALSE(decode_bus_message(deep));
  auto kill = decode_bus_message(R"({"type":"kill","sid":"00112233445566778899aabbccddeeff"})");
  ASSERT_TRUE(kill) << kill.message();
  EXPECT_EQ(kill->sid.hex(), "00112233445566778899aabbccddeeff");
  auto drain = decode_bus_message(R"({"type":"drain","worker":"h1-3"})");
  ASSERT_TRUE(drain);
  EXPECT_EQ(drain->worker, "h1-3");
  auto other = decode_bus_message(R"({"type":"invalidate","regex":"x"})");
  ASSERT_TRUE(other);  // for another component: decoded, no handler here
  EXPECT_EQ(other->type, "invalidate");
}

TEST(BusMessageTest, DispatchCountsRefusalsAndCatchesHandlers) {
  RedisOptions opts;
  Bus bus(opts);
  int kills = 0;
  bus.on("kill", [&](const BusMessage&) { ++kills; });
  bus.on("drain", [](const BusMessage&) { throw std::runtime_error("handler failed"); });
  uint64_t refused_before = firewall::refused_count("bus.bad_message");
  uint64_t caught_before = firewall::caught_count("bus.handler");
  bus.dispatch(R"({"type":"kill","sid":1})");
  bus.dispatch(R"({"type":"drain","worker":1})");
  bus.dispatch(std::string(300000, '['));
  EXPECT_EQ(kills, 0);
  EXPECT_EQ(firewall::refused_count("bus.bad_message"), refused_before + 3);
  bus.dispatch(R"({"type":"kill","sid":"00112233445566778899aabbccddeeff"})");
  EXPECT_EQ(kills, 1);
  bus.dispatch(R"({"type":"drain","worker":"h1-0"})");
  EXPECT_EQ(firewall::caught_count("bus.handler"), caught_before + 1);
}

TEST(HandoverEnvelopeTest, WrongShapesAreRefused) {
  const std::string sid = "\"sid\":\"00112233445566778899aabbccddeeff\"";
  for (const std::string& bad : std::vector<std::string>{"{}", "{" + sid + "}", "{" + sid + ",\"app\":1,\"state\":{}}",
                          "{" + sid + ",\"app\":\"notes\"}", "{" + sid + ",\"app\":\"notes\",\"state\":{},\"created\":\"x\"}",
                          "{" + sid + ",\"app\":\"notes\",\"state\":{},\"requests\":-1}",
                          "{" + sid + ",\"app\":\"notes\",\"state\":{},\"start_reason\":3}",
                          "{\"sid\":\"zz\",\"app\":\"notes\",\"state\":{}}", "[]",
                          "{" + sid + ",\"app\":\"notes\",\"state\":" + std::string(1000, '[') + "}"}) {
    EXPECT_FALSE(Handover::decode_envelope(bad)) << bad.substr(0, 120);
  }
  auto ok = Handover::decode_envelope("{" + sid + ",\"app\":\"notes\",\"state\":{\"n\":1},\"created\":5,\"requests\":2}");
  ASSERT_TRUE(ok) << ok.message();
  EXPECT_EQ((*ok)["state"]["n"], 1);
}

}  // namespace
}  // namespace tether
