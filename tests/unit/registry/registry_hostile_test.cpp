// Hostile registry values in a real redis-server: what read_session,
// read_workers, fleet::read and Registry::lookup/workers() make of entries
// no worker wrote (refused, counted, left out), and entries that name the
// asking worker itself (never a forwarding target).
#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/firewall.h"
#include "ops/fleet.h"
#include "support/redis_server.h"
#include "registry/decode.h"
#include "registry/entries.h"
#include "registry/figures.h"
#include "registry/registry.h"

namespace tether {
namespace {

using test_support::RedisServer;

class RegistryHostileTest : public test_support::RedisTest {
 protected:
  static void SetUpTestSuite() {
    ASSERT_GE(sodium_init(), 0);
    RedisTest::SetUpTestSuite();
  }
  void SetUp() override {
    connect("t");
    prefix_ = opts_.prefix;
  }
  RedisOptions options() const { return opts_; }
  void run(const std::vector<std::string>& argv) {
    auto r = redis_->command(argv);
    ASSERT_TRUE(r) << r.message();
  }
  // A directory entry: the heartbeat hash's fields and a live zset score.
  void entry(const std::string& member, const std::vector<std::string>& fields) {
    std::vector<std::string> argv = {"HSET", prefix_ + "worker:" + member};
    argv.insert(argv.end(), fields.begin(), fields.end());
    run(argv);
    run({"ZADD", prefix_ + "workers", std::to_string(unix_millis()), member});
  }
  void good(const std::string& member, const std::string& addr, const std::string& figures = "") {
    std::vector<std::string> f = {"addr", addr, "accepting", "1", "sessions", "1", "pid", "10", "started", "5"};
    if (!figures.empty()) f.insert(f.end(), {"figures", figures});
    entry(member, f);
  }

  std::string prefix_;
};

TEST_F(RegistryHostileTest, BadDirectoryEntriesAreLeftOutAndCounted) {
  good("h1:0", "unix:/tmp/w0.sock");
  entry("garbage", {"addr", "unix:/tmp/g.sock"});
  entry("h1:x", {"addr", "unix:/tmp/g.sock"});
  entry("h1:1", {"addr", "\xff\x01garbage", "accepting", "1", "sessions", "1", "pid", "1", "started", "1"});
  entry("h1:2", {"addr", "unix:/tmp/w2.sock", "accepting", "maybe", "sessions", "-x", "pid", "abc", "started", "z"});
  run({"SET", prefix_ + "worker:h1:3", "not a hash"});
  run({"ZADD", prefix_ + "workers", std::to_string(unix_millis()), "h1:3"});
  uint64_t members = firewall::refused_count(registry::kBadMember);
  uint64_t hashes = firewall::refused_count(registry::kBadHeartbeat);
  auto live = registry::read_workers(*redis_, unix_millis(), 1000);
  ASSERT_TRUE(live) << live.message();
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].worker, 0);
  EXPECT_EQ(firewall::refused_count(registry::kBadMember) - members, 2u);
  EXPECT_EQ(firewall::refused_count(registry::kBadHeartbeat) - hashes, 3u);
}

TEST_F(RegistryHostileTest, BadFiguresLeaveTheWorkerOutOfTheFleet) {
  std::string nested = std::string(300000, '[') + std::string(300000, ']');
  good("h1:0", "unix:/tmp/w0.sock", R"({"host":"h1","worker":0,"requests":{"accepted":4}})");
  good("h1:1", "unix:/tmp/w1.sock", R"({"host":5})");
  good("h1:2", "unix:/tmp/w2.sock", R"({"worker":"x"})");
  good("h1:3", "unix:/tmp/w3.sock", "{\"host\":\"h1\",\"worker\":3,\"x\":" + nested + "}");
  good("h1:4", "unix:/tmp/w4.sock", "{\"host\":\"h1\",\"worker\":4,\"s\":\"\xff\"}");
  good("h1:5", "unix:/tmp/w5.sock", R"({"host":"h1","worker":5,"requests":{"accepted":"many"}})");
  good("h1:6", "unix:/tmp/w6.sock");  // no figures: what the directory knows
  uint64_t before = firewall::refused_count(registry::kBadFigures);
  auto fleet = fleet::read(*redis_, 1000);
  ASSERT_TRUE(fleet) << fleet.message();
  ASSERT_EQ(fleet->size(), 2u);
  EXPECT_EQ((*fleet)[0].worker(), 0);
  EXPECT_EQ((*fleet)[0].json()["requests"]["accepted"], 4);
  EXPECT_EQ((*fleet)[0].json()["addr"], "unix:/tmp/w0.sock");
  EXPECT_EQ((*fleet)[1].worker(), 6);
  EXPECT_EQ((*fleet)[1].json()["pid"], 10);
  EXPECT_EQ(firewall::refused_count(registry::kBadFigures) - before, 5u);
}

TEST_F(RegistryHostileTest, BadSessionEntriesReadAsNone) {
  SessionId sid = SessionId::random();
  std::string key = registry::session_key(prefix_, sid);
  run({"HSET", key, "host", "h1", "worker", "x", "addr", "unix:/tmp/w.sock", "epoch", "1", "created", "1",
       "last_seen", "1"});
  uint64_t before = firewall::refused_count(registry::kBadSession);
  auto e = registry::read_session(*redis_, sid);
  ASSERT_TRUE(e) << e.message();
  EXPECT_FALSE(e->has_value());
  EXPECT_EQ(firewall::refused_count(registry::kBadSession) - before, 1u);
}

class SelfEntryTest : public RegistryHostileTest {
 protected:
  std::unique_ptr<Registry> make() {
    RegistryConfig c;
    c.redis = options();
    c.me = registry::Owner{"h1", 0, "unix:/tmp/self-w0.sock"};
    c.heartbeat_ms = 50;
    return std::make_unique<Registry>(c, Registry::Hooks{});
  }
  void session(const SessionId& sid, const std::string& host, const std::string& worker, const std::string& addr) {
    run({"HSET", registry::session_key(prefix_, sid), "host", host, "worker", worker, "addr", addr, "epoch", "1",
         "created", "1", "last_seen", "1"});
  }
};

TEST_F(SelfEntryTest, LookupNeverAnswersThisWorker) {
  auto reg = make();
  SessionId by_addr = SessionId::random(), by_name = SessionId::random(), other = SessionId::random();
  session(by_addr, "h9", "7", "unix:/tmp/self-w0.sock");
  session(by_name, "h1", "0", "unix:/tmp/elsewhere.sock");
  session(other, "h1", "1", "unix:/tmp/w1.sock");
  uint64_t before = firewall::refused_count(registry::kSelfEntry);
  auto a = reg->lookup(by_addr);
  ASSERT_TRUE(a) << a.message();
  EXPECT_FALSE(a->has_value());
  EXPECT_EQ(firewall::refused_count(registry::kSelfEntry) - before, 1u);
  auto b = reg->lookup(by_name);
  ASSERT_TRUE(b) << b.message();
  EXPECT_FALSE(b->has_value());  // stale: this worker asks only for sessions it does not hold
  auto c = reg->lookup(other);
  ASSERT_TRUE(c) << c.message();
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->owner.addr, "unix:/tmp/w1.sock");
}

TEST_F(SelfEntryTest, TheDirectoryDropsOtherNamesAtThisWorkersAddress) {
  good("h9:7", "unix:/tmp/self-w0.sock");  // an impostor at our address
  good("h1:1", "unix:/tmp/w1.sock");
  uint64_t before = firewall::refused_count(registry::kSelfEntry);
  auto reg = make();
  reg->start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::shared_ptr<const std::vector<registry::WorkerInfo>> dir;
  while (std::chrono::steady_clock::now() < deadline) {  // until the first heartbeat read the directory
    dir = reg->workers();
    if (dir && dir->size() >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  reg->stop();
  ASSERT_TRUE(dir);
  std::vector<std::string> names;
  for (const auto& w : *dir) names.push_back(registry::worker_name(w.host, w.worker));
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"h1:0", "h1:1"}));
  EXPECT_GE(firewall::refused_count(registry::kSelfEntry) - before, 1u);
}

TEST_F(RegistryHostileTest, HooksThatThrowAreCaughtAndTheThreadGoesOn) {
  RegistryConfig c;
  c.redis = options();
  c.me = registry::Owner{"h1", 0, "unix:/tmp/hooks-w0.sock"};
  c.heartbeat_ms = 20;
  Registry::Hooks hooks;
  hooks.live_sessions = []() -> int64_t { throw std::runtime_error("live_sessions hook"); };
  hooks.figures = []() -> std::string { throw std::runtime_error("figures hook"); };
  uint64_t before = firewall::caught_count("registry.figures_hook");
  Registry reg(c, hooks);
  reg.start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline && firewall::caught_count("registry.figures_hook") < before + 3) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(firewall::caught_count("registry.figures_hook") - before, 3u);  // three heartbeats: the thread lives
  auto dir = reg.workers();
  ASSERT_TRUE(dir);
  ASSERT_EQ(dir->size(), 1u);
  EXPECT_EQ((*dir)[0].sessions, 0);  // the hook threw: the heartbeat went out without it
  reg.stop();
}

}  // namespace
}  // namespace tether
