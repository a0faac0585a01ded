// The bus (src/redis/bus.h): messages encode to what decode_bus_message
// reads back, publish() refuses a message a worker would refuse before
// anything is sent, and a running Bus hears what publish() sends (on a
// real redis-server). Decoding hostile payloads is also in
// tests/unit/common/firewall_boundaries_test.cpp; the fuzz target is
// tests/fuzz/bus_fuzz.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include "redis/bus.h"
#include "common/route.h"
#include "support/redis_server.h"

namespace tether {
namespace {

SessionId some_sid() {
  SessionId sid;
  EXPECT_TRUE(SessionId::from_hex("00112233445566778899aabbccddeeff", &sid));
  return sid;
}

TEST(BusTest, MessagesEncodeToWhatTheDecoderReadsBack) {
  auto kill = decode_bus_message(encode_bus_message(BusMessage::kill(some_sid())));
  ASSERT_TRUE(kill) << kill.message();
  EXPECT_EQ(kill->type, "kill");
  EXPECT_EQ(kill->sid.hex(), "00112233445566778899aabbccddeeff");
  auto drain = decode_bus_message(encode_bus_message(BusMessage::drain("h1-3")));
  ASSERT_TRUE(drain) << drain.message();
  EXPECT_EQ(drain->worker, "h1-3");
  auto reload = decode_bus_message(encode_bus_message(BusMessage::reload("h2")));
  ASSERT_TRUE(reload) << reload.message();
  EXPECT_EQ(reload->host, "h2");
  EXPECT_EQ(encode_bus_message(BusMessage::reload("")), R"({"type":"reload"})") << "every worker";
  EXPECT_EQ(bus_channel("tether:"), "tether:bus");
}

TEST(BusTest, TheReloadHostRuleIsTheOneHostIdRule) {
  for (const char* host : {"h1", "H_2", "a", "abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnopqrstuvwxyz0123456",
                           "h-1", "h 1", "h.1", "h\xc3\xa9", "h1\n"}) {
    bool decoded = static_cast<bool>(decode_bus_message(encode_bus_message(BusMessage::reload(host))));
    EXPECT_EQ(decoded, valid_host_id(host)) << host;
  }
}

TEST(BusTest, PublishRefusesWhatAWorkerWouldRefuseBeforeSending) {
  RedisOptions nowhere;
  nowhere.port = 1;  // nothing listens: an error here would be the connection's
  nowhere.connect_timeout_ms = 100;
  Redis redis(nowhere);
  BusMessage unknown;
  unknown.type = "explode";
  struct Case {
    BusMessage message;
    const char* says;
  } cases[] = {
      {unknown, "no message of type"},
      {BusMessage::drain("h1"), "drain: worker"},
      {BusMessage::drain(""), "drain: worker"},
      {BusMessage::reload("h-1"), "reload: host"},
  };
  for (const auto& c : cases) {
    auto r = publish(redis, c.message);
    ASSERT_FALSE(r) << c.says;
    EXPECT_NE(r.message().find(c.says), std::string::npos) << r.message();
    EXPECT_EQ(r.message().rfind("bus: ", 0), 0u) << r.message();
  }
  EXPECT_FALSE(redis.connected()) << "nothing was sent";
  auto down = publish(redis, BusMessage::drain("h1-0"));
  ASSERT_FALSE(down);
  EXPECT_EQ(down.message().find("bus: "), std::string::npos) << "a valid message goes to Redis: " << down.message();
}

TEST(BusTest, ARunningBusHearsWhatIsPublished) {
  test_support::RedisServer server;
  ASSERT_TRUE(server.start()) << "redis-server did not start";
  RedisOptions opts;
  opts.port = server.port();
  opts.prefix = "bus-test:";
  Bus bus(opts);
  std::mutex mu;
  std::vector<std::string> heard;
  bus.on("drain", [&](const BusMessage& m) {
    std::lock_guard lock(mu);
    heard.push_back(m.worker);
  });
  bus.start();
  Redis pub(opts);
  // The bus subscribes on its own thread: publish until someone hears (bounded).
  long long receivers = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (receivers == 0 && std::chrono::steady_clock::now() < deadline) {
    auto n = publish(pub, BusMessage::drain("h7-0"));
    ASSERT_TRUE(n) << n.message();
    receivers = *n;
    if (receivers == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(receivers, 1);
  bool got = false;
  while (!got && std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mu);
      got = !heard.empty();
    }
    if (!got) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  bus.stop();
  std::lock_guard lock(mu);
  ASSERT_FALSE(heard.empty());
  EXPECT_EQ(heard.back(), "h7-0");
}

}  // namespace
}  // namespace tether
