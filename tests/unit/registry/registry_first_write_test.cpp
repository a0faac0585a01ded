// A new session's first registry write against a real redis-server (issue
// 19): two plain commands (HSET, PEXPIRE) instead of the upsert script, and
// still fenced: once anyone read the session's epoch to move it (a drain's
// hand-over), a queued first write is the create-if-absent script, and one on
// the wire has its reply before epoch() returns, so it can never land over
// the entry of the worker the session moved to.
#include <gtest/gtest.h>
#include <sodium.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "redis/reply.h"
#include "registry/entries.h"
#include "registry/registry.h"
#include "support/redis_server.h"

namespace tether {
namespace {

using test_support::eventually;

using registry::Owner;

class RegistryFirstWriteTest : public test_support::RedisTest {
 protected:
  static void SetUpTestSuite() {
    ASSERT_GE(sodium_init(), 0);
    RedisTest::SetUpTestSuite();
  }
  void SetUp() override { connect("fw"); }
  void TearDown() override {
    if (a_) a_->stop();
  }
  // Worker A's registry; its thread is started by start_a() (heartbeats 60 s
  // apart: only the first one, which start_a() waits for, runs in a test).
  void make_a() {
    RegistryConfig c;
    c.redis = opts_;
    c.me = a_owner_;
    c.heartbeat_ms = 60000;
    Registry::Hooks hooks;
    hooks.lost = [this](const SessionId&) { lost_++; };
    a_ = std::make_unique<Registry>(c, hooks);
  }
  void start_a() {
    a_->start();
    ASSERT_TRUE(eventually([&] { return a_->workers() != nullptr; }));
  }
  std::unique_ptr<Registry> registry_of(const Owner& me) {
    RegistryConfig c;
    c.redis = opts_;
    c.me = me;
    return std::make_unique<Registry>(c, Registry::Hooks{});
  }
  std::optional<registry::SessionEntry> read(const SessionId& sid) {
    auto r = registry::read_session(*redis_, sid);
    EXPECT_TRUE(r) << r.message();
    return r ? *r : std::nullopt;
  }
  // calls= of one command in INFO commandstats (0 when it never ran).
  long long calls(const std::string& command) {
    auto r = redis_->command({"INFO", "commandstats"});
    EXPECT_TRUE(r) << r.message();
    std::string text = r ? reply_string(r->get()) : "";
    const std::string key = "cmdstat_" + command + ":calls=";
    size_t at = text.find(key);
    return at == std::string::npos ? 0 : std::atoll(text.c_str() + at + key.size());
  }

  const Owner a_owner_{"hostA", 1, "unix:/run/a1.sock"};
  const Owner b_owner_{"hostB", 2, "10.0.0.2:9000"};
  std::unique_ptr<Registry> a_;
  std::atomic<int> lost_{0};
};

TEST_F(RegistryFirstWriteTest, ANewSessionCostsTwoCommandsAndNoScript) {
  make_a();
  start_a();
  ASSERT_TRUE(redis_->command({"CONFIG", "RESETSTAT"}));
  std::vector<SessionId> sids;
  for (int i = 0; i < 10; ++i) {
    sids.push_back(SessionId::random());
    a_->session_created(sids.back(), 1000 + i);
  }
  ASSERT_TRUE(eventually([&] { return a_->stats().pending.load() == 0 && read(sids.back()).has_value(); }));
  for (const auto& sid : sids) ASSERT_TRUE(eventually([&] { return read(sid).has_value(); }));
  EXPECT_EQ(calls("evalsha"), 0);
  EXPECT_EQ(calls("hset"), 10);
  EXPECT_EQ(calls("pexpire"), 10);
  auto e = read(sids[3]);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->owner.host, "hostA");
  EXPECT_EQ(e->owner.worker, 1);
  EXPECT_EQ(e->owner.addr, "unix:/run/a1.sock");
  EXPECT_EQ(e->epoch, 1);
  EXPECT_EQ(e->created_ms, 1003);
  auto ttl = redis_->command({"PTTL", registry::session_key(opts_.prefix, sids[3])});
  ASSERT_TRUE(ttl);
  EXPECT_GT(reply_integer(ttl->get()), 0);
  // A refresh of a session written so is the script, and finds it ours.
  a_->session_used(sids[3], 1003);
  SessionId marker = SessionId::random();  // a later round: the refresh has been written when it lands
  a_->session_created(marker, 1);
  ASSERT_TRUE(eventually([&] { return read(marker).has_value(); }));
  EXPECT_EQ(lost_.load(), 0);
  EXPECT_EQ(a_->stats().errors.load(), 0u);
}

// The create was still queued when A's drain read the epoch and handed the
// session to B, whose take-over found no entry and wrote its own (epoch 2):
// A's first write, landing late, must not name A again.
TEST_F(RegistryFirstWriteTest, AQueuedFirstWriteFencedByEpochIsCreateIfAbsent) {
  make_a();
  SessionId sid = SessionId::random();
  a_->session_created(sid, 1000);  // queued: A's thread is not running yet
  EXPECT_EQ(a_->epoch(sid), 1);    // the drain's read, before it sends the session
  auto b = registry_of(b_owner_);
  ASSERT_TRUE(b->take_over(sid, a_owner_, 1, 1000));
  start_a();
  ASSERT_TRUE(eventually([&] { return lost_.load() == 1; }));  // A's create was refused: not A's
  auto e = read(sid);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->owner.host, "hostB");
  EXPECT_EQ(e->epoch, 2);
}

// The first write is on the wire (Redis holds writes: CLIENT PAUSE WRITE)
// when the drain reads the epoch: epoch() returns only once it has landed, so
// that B's take-over, which comes after, moves A's entry rather than being
// overwritten by it.
TEST_F(RegistryFirstWriteTest, EpochWaitsForAFirstWriteOnTheWire) {
  make_a();
  start_a();
  SessionId sid = SessionId::random();
  ASSERT_TRUE(redis_->command({"CLIENT", "PAUSE", "300", "WRITE"}));
  a_->session_created(sid, 1000);
  ASSERT_TRUE(eventually([&] { return a_->stats().pending.load() == 0; }));  // taken: on the wire
  EXPECT_FALSE(read(sid).has_value());  // reads go on during the pause: not written yet
  EXPECT_EQ(a_->epoch(sid), 1);
  EXPECT_TRUE(read(sid).has_value());  // landed before epoch() returned
  auto b = registry_of(b_owner_);
  ASSERT_TRUE(b->take_over(sid, a_owner_, 1, 1000));
  auto e = read(sid);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->owner.host, "hostB");
  EXPECT_EQ(e->epoch, 2);
}

// A session that ends before its first write: nothing is written for it,
// not even the release script.
TEST_F(RegistryFirstWriteTest, ASessionEndedBeforeItsFirstWriteCostsNothing) {
  make_a();
  SessionId sid = SessionId::random();
  a_->session_created(sid, 1000);
  a_->session_ended(sid, EndReason::App);
  EXPECT_EQ(a_->stats().pending.load(), 0);
  ASSERT_TRUE(redis_->command({"CONFIG", "RESETSTAT"}));
  start_a();
  SessionId marker = SessionId::random();
  a_->session_created(marker, 1);
  ASSERT_TRUE(eventually([&] { return read(marker).has_value(); }));
  EXPECT_FALSE(read(sid).has_value());
  EXPECT_EQ(calls("evalsha"), 0);
}

}  // namespace
}  // namespace tether
