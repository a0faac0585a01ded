// Registry::recover against a real redis-server (issue 18, item 2): the
// checkpoint record read back and checked against the entry, the take-over
// by the transfer script, two workers racing to recover one session
// (exactly one wins), and the dead owner fenced afterwards.
#include <gtest/gtest.h>
#include <sodium.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/firewall.h"
#include "common/json.h"
#include "redis/redis.h"
#include "redis/reply.h"
#include "registry/entries.h"
#include "registry/recovery.h"
#include "registry/registry.h"
#include "support/redis_server.h"

namespace tether {
namespace {

using registry::Owner;
using K = registry::Recovery::Kind;

class RecoveryTest : public test_support::RedisTest {
 protected:
  static void SetUpTestSuite() {
    ASSERT_GE(sodium_init(), 0);
    RedisTest::SetUpTestSuite();
  }
  void SetUp() override { connect("r"); }
  long long eval(const std::vector<std::string>& argv) {
    auto r = redis_->command(argv);
    EXPECT_TRUE(r) << r.message();
    return r ? reply_integer(r->get()) : -1;
  }
  std::unique_ptr<Registry> registry_of(const Owner& me) {
    RegistryConfig c;
    c.redis = opts_;
    c.me = me;
    return std::make_unique<Registry>(c, Registry::Hooks{});
  }
  // The entry of sid names the (dead) worker a_ at epoch 3.
  SessionId dead_session() {
    SessionId sid = SessionId::random();
    EXPECT_EQ(eval(registry::upsert_argv(opts_.prefix, sid, a_, 3, 1000, unix_millis(), 60000)), 1);
    return sid;
  }
  static std::string record(const Owner& by, int64_t epoch, int64_t n, const std::string& app = "kit") {
    return nlohmann::json{{"v", 1}, {"app", app}, {"host", by.host}, {"worker", by.worker}, {"epoch", epoch},
                          {"at", unix_millis()}, {"created", 1000}, {"state", {{"n", n}}}}
        .dump();
  }
  void put_record(const SessionId& sid, const std::string& text) {
    auto r = redis_->command({"SET", registry::state_key(opts_.prefix, sid), text, "PX", "60000"});
    ASSERT_TRUE(r) << r.message();
  }
  std::optional<registry::SessionEntry> entry(const SessionId& sid) {
    auto r = registry::read_session(*redis_, sid);
    EXPECT_TRUE(r) << r.message();
    return r ? *r : std::nullopt;
  }
  static bool kit(const std::string& app) { return app == "kit"; }

  const Owner a_{"hostA", 0, "127.0.0.1:9100"};
  const Owner b_{"hostB", 1, "127.0.0.1:9101"};
  const Owner c_{"hostC", 2, "127.0.0.1:9102"};
};

TEST_F(RecoveryTest, ACheckpointOfTheEntrysOwnerIsTakenOverAtTheNextEpoch) {
  SessionId sid = dead_session();
  put_record(sid, record(a_, 3, 41));
  auto b = registry_of(b_);
  auto r = b->recover(sid, a_, kit);
  ASSERT_TRUE(r) << r.message();
  ASSERT_EQ(r->kind, K::Won);
  EXPECT_EQ(r->app, "kit");
  EXPECT_EQ(r->epoch, 4);
  EXPECT_EQ(int_field(*field(r->envelope, "state"), "n"), 41);
  EXPECT_EQ(string_field(r->envelope, "sid"), sid.hex());
  EXPECT_EQ(int_field(r->envelope, "created"), 1000);
  EXPECT_EQ(b->epoch(sid), 4);
  auto e = entry(sid);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->owner.host, "hostB");
  EXPECT_EQ(e->epoch, 4);
  // The dead owner, back from a stop, is fenced: its refresh and its release are refused.
  EXPECT_EQ(eval(registry::upsert_argv(opts_.prefix, sid, a_, 3, 1000, unix_millis(), 60000)), 0);
  EXPECT_EQ(eval(registry::release_argv(opts_.prefix, sid, a_, 3)), 0);
  // Asked again (a second request behind the first): the entry is this worker's.
  auto again = b->recover(sid, a_, kit);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->kind, K::Ours);
}

TEST_F(RecoveryTest, TwoWorkersRecoveringAtOnceExactlyOneWins) {
  auto b = registry_of(b_);
  auto c = registry_of(c_);
  for (int round = 0; round < 30; ++round) {
    SessionId sid = dead_session();
    put_record(sid, record(a_, 3, round));
    std::atomic<int> ready{0};
    Result<registry::Recovery> rb = registry::Recovery{}, rc = registry::Recovery{};
    auto race = [&](Registry& reg, Result<registry::Recovery>& out) {
      ready++;
      while (ready.load() < 2) std::this_thread::yield();
      out = reg.recover(sid, a_, kit);
    };
    std::thread tb(race, std::ref(*b), std::ref(rb));
    std::thread tc(race, std::ref(*c), std::ref(rc));
    tb.join();
    tc.join();
    ASSERT_TRUE(rb) << rb.message();
    ASSERT_TRUE(rc) << rc.message();
    int won = (rb->kind == K::Won) + (rc->kind == K::Won);
    ASSERT_EQ(won, 1) << "round " << round;
    const registry::Recovery& loser = rb->kind == K::Won ? *rc : *rb;
    const Owner& winner = rb->kind == K::Won ? b_ : c_;
    EXPECT_EQ(loser.kind, K::Taken) << "round " << round;
    EXPECT_EQ(loser.owner.host, winner.host);
    EXPECT_EQ(loser.owner.worker, winner.worker);
    auto e = entry(sid);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->owner.host, winner.host);
    EXPECT_EQ(e->epoch, 4);
  }
}

TEST_F(RecoveryTest, NoCheckpointOrNoEntryRecoversNothingAndMovesNothing) {
  auto b = registry_of(b_);
  SessionId sid = dead_session();
  auto r = b->recover(sid, a_, kit);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->kind, K::None);
  EXPECT_EQ(entry(sid)->owner.host, "hostA");
  EXPECT_EQ(entry(sid)->epoch, 3);

  SessionId ended = SessionId::random();  // released by its owner: a record left over is not brought back
  put_record(ended, record(a_, 3, 5));
  auto none = b->recover(ended, a_, kit);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->kind, K::None);
  EXPECT_FALSE(entry(ended));
}

// Records the checks refuse: counted as checkpoint.bad_record, no take-over.
TEST_F(RecoveryTest, ARecordThatCannotBeUsedIsRefusedCountedAndMovesNothing) {
  auto b = registry_of(b_);
  const std::vector<std::string> bad = {
      "garbage", "{}", std::string(100, '['), record(a_, 4, 1), record(b_, 3, 1), record(a_, 3, 1, "other"),
      "{\"v\":1,\"app\":\"kit\",\"host\":\"hostA\",\"worker\":0,\"epoch\":3,\"at\":1,\"created\":1}",  // no state
  };
  for (const auto& text : bad) {
    SessionId sid = dead_session();
    put_record(sid, text);
    uint64_t before = firewall::refused_count(registry::kBadRecord);
    auto r = b->recover(sid, a_, kit);
    ASSERT_TRUE(r) << r.message();
    EXPECT_EQ(r->kind, K::None) << text;
    EXPECT_EQ(firewall::refused_count(registry::kBadRecord) - before, 1u) << text;
    EXPECT_EQ(entry(sid)->owner.host, "hostA") << text;
    EXPECT_EQ(entry(sid)->epoch, 3) << text;
  }
  // Not a string at all (a hash under the record's key): refused the same way.
  SessionId sid = dead_session();
  ASSERT_TRUE(redis_->command({"HSET", registry::state_key(opts_.prefix, sid), "v", "1"}));
  uint64_t before = firewall::refused_count(registry::kBadRecord);
  auto r = b->recover(sid, a_, kit);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->kind, K::None);
  EXPECT_EQ(firewall::refused_count(registry::kBadRecord) - before, 1u);
}

// A record from an earlier epoch (the owner before a move or a recovery, its
// successor dead before its own first checkpoint) is a normal leftover: not
// used (the session is lost), counted as stale, not as a bad record.
TEST_F(RecoveryTest, ARecordFromAnEarlierEpochIsStaleNotBad) {
  auto b = registry_of(b_);
  for (const auto& text : {record(a_, 2, 1), record(c_, 1, 1), record(a_, 2, 1, "other")}) {
    SessionId sid = dead_session();
    put_record(sid, text);
    uint64_t bad = firewall::refused_count(registry::kBadRecord), stale = registry::stale_record_count();
    auto r = b->recover(sid, a_, kit);
    ASSERT_TRUE(r) << r.message();
    EXPECT_EQ(r->kind, K::None) << text;
    EXPECT_EQ(firewall::refused_count(registry::kBadRecord), bad) << text;
    EXPECT_EQ(registry::stale_record_count() - stale, 1u) << text;
    EXPECT_EQ(entry(sid)->owner.host, "hostA") << text;
    EXPECT_EQ(entry(sid)->epoch, 3) << text;
  }
  // Malformed at an earlier epoch is still malformed: bad, not stale.
  SessionId sid = dead_session();
  put_record(sid, "{\"v\":1,\"app\":\"kit\",\"host\":\"hostA\",\"worker\":0,\"epoch\":2,\"at\":1,\"created\":1}");
  uint64_t bad = firewall::refused_count(registry::kBadRecord), stale = registry::stale_record_count();
  ASSERT_TRUE(b->recover(sid, a_, kit));
  EXPECT_EQ(firewall::refused_count(registry::kBadRecord) - bad, 1u);
  EXPECT_EQ(registry::stale_record_count(), stale);
}

TEST_F(RecoveryTest, AnEntryNamingThisWorkersAddressUnderAnotherNameIsNeverTakenFrom) {
  auto b = registry_of(b_);
  SessionId sid = SessionId::random();
  Owner impostor{"hostZ", 7, b_.addr};
  ASSERT_EQ(eval(registry::upsert_argv(opts_.prefix, sid, impostor, 3, 1000, unix_millis(), 60000)), 1);
  put_record(sid, record(impostor, 3, 1));
  auto r = b->recover(sid, a_, kit);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, K::None);
  EXPECT_EQ(entry(sid)->owner.host, "hostZ");
}

TEST_F(RecoveryTest, RedisDownIsAnErrorNotARecovery) {
  RegistryConfig c;
  c.redis = opts_;
  c.redis.port = test_support::free_port();
  c.me = b_;
  Registry b(c, Registry::Hooks{});
  auto r = b.recover(SessionId::random(), a_, kit);
  EXPECT_FALSE(r);
}

}  // namespace
}  // namespace tether
