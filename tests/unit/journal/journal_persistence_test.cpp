// Tests the shipper's reading of Redis' persistence (issue 16): the CONFIG
// GET decoder on good, refused and hostile replies, and the shipper against
// real redis-servers with AOF off, on, CONFIG renamed, and with
// journal.require_durable_redis (refused at start, or entries held on disk
// until Redis keeps what it acknowledges).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>

#include "common/firewall.h"
#include "journal/options.h"
#include "journal/redis_persistence.h"
#include "journal/shipper.h"
#include "support/journal_fixture.h"

namespace tether::journal {
namespace {

using test_support::RedisServer;

// Hand-made hiredis replies (the decoder only reads them).
struct FakeReply {
  redisReply r{};
  std::vector<FakeReply*> kids;
  std::vector<redisReply*> ptrs;
  std::string text;
  static FakeReply* string(const std::string& s, int type = REDIS_REPLY_STRING) {
    auto* f = new FakeReply;
    f->text = s;
    f->r.type = type;
    f->r.str = f->text.data();
    f->r.len = f->text.size();
    return f;
  }
  static FakeReply* pair(const std::string& name, const std::string& value) {
    auto* f = new FakeReply;
    f->r.type = REDIS_REPLY_ARRAY;
    f->kids = {string(name), string(value)};
    for (auto* k : f->kids) f->ptrs.push_back(&k->r);
    f->r.elements = 2;
    f->r.element = f->ptrs.data();
    return f;
  }
  ~FakeReply() {
    for (auto* k : kids) delete k;
  }
};

RedisAof decode(FakeReply* on, FakeReply* fsync) {
  std::unique_ptr<FakeReply> a(on), b(fsync);
  return decode_persistence(a ? &a->r : nullptr, b ? &b->r : nullptr).aof;
}

TEST(JournalPersistence, DecodesConfigGetReplies) {
  EXPECT_EQ(decode(FakeReply::pair("appendonly", "no"), FakeReply::pair("appendfsync", "everysec")), RedisAof::Off);
  EXPECT_EQ(decode(FakeReply::pair("appendonly", "yes"), FakeReply::pair("appendfsync", "everysec")),
            RedisAof::Everysec);
  EXPECT_EQ(decode(FakeReply::pair("appendonly", "yes"), FakeReply::pair("appendfsync", "always")), RedisAof::Always);
  EXPECT_EQ(decode(FakeReply::pair("appendonly", "yes"), FakeReply::pair("appendfsync", "no")), RedisAof::No);
  EXPECT_FALSE(survives_restart(RedisAof::Off));
  EXPECT_FALSE(survives_restart(RedisAof::Unknown));
  EXPECT_TRUE(survives_restart(RedisAof::Everysec));
  // CONFIG renamed or refused: unknown, with the reason; not a hostile reply.
  uint64_t bad = firewall::refused_count("journal.bad_config_reply");
  std::unique_ptr<FakeReply> err(FakeReply::string("ERR unknown command 'CONFIG'", REDIS_REPLY_ERROR));
  Persistence p = decode_persistence(&err->r, &err->r);
  EXPECT_EQ(p.aof, RedisAof::Unknown);
  EXPECT_NE(p.why.find("refused: ERR unknown command"), std::string::npos) << p.why;
  EXPECT_EQ(firewall::refused_count("journal.bad_config_reply"), bad);
}

TEST(JournalPersistence, HostileRepliesAreRefusedAndCounted) {
  uint64_t bad = firewall::refused_count("journal.bad_config_reply");
  EXPECT_EQ(decode(FakeReply::string("yes"), nullptr), RedisAof::Unknown);                // not a pair
  EXPECT_EQ(decode(FakeReply::pair("appendfsync", "yes"), nullptr), RedisAof::Unknown);   // another name
  EXPECT_EQ(decode(FakeReply::pair("appendonly", "maybe"), nullptr), RedisAof::Unknown);  // a bad value
  EXPECT_EQ(decode(FakeReply::pair("appendonly", "yes"), FakeReply::pair("appendfsync", "\xff")), RedisAof::Unknown);
  EXPECT_EQ(decode(nullptr, nullptr), RedisAof::Unknown);
  EXPECT_EQ(firewall::refused_count("journal.bad_config_reply"), bad + 5);
}

class JournalRedisPersistenceTest : public JournalTest {
 protected:
  RedisOptions on(const RedisServer& r) {
    RedisOptions o = redis_options();
    o.port = r.port();
    return o;
  }
};

TEST_F(JournalRedisPersistenceTest, AofOffWarnsOrRefusesToStart) {
  ASSERT_TRUE(redis_ok_);  // the suite's redis-server runs with appendonly no
  auto j = open();
  {
    Shipper s(*j, redis_options(), stats_);
    ASSERT_TRUE(s.start());
    EXPECT_EQ(stats_.redis_aof.load(), static_cast<int>(RedisAof::Off));
    ASSERT_TRUE(j->append("d", {}));
    ASSERT_TRUE(shipped(1));  // warned, shipped
    s.stop(1000);
  }
  opts_.require_durable_redis = true;
  j.reset();
  j = open();
  Shipper s(*j, redis_options(), stats_);
  Status st = s.start();
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("appendonly no"), std::string::npos) << st.message();
}

TEST_F(JournalRedisPersistenceTest, AofEverysecIsDurable) {
  RedisServer aof({"--appendonly", "yes", "--appendfsync", "everysec"});
  ASSERT_TRUE(aof.start());
  opts_.require_durable_redis = true;
  auto j = open();
  Shipper s(*j, on(aof), stats_);
  ASSERT_TRUE(s.start());
  EXPECT_EQ(stats_.redis_aof.load(), static_cast<int>(RedisAof::Everysec));
  ASSERT_TRUE(j->append("d", {}));
  ASSERT_TRUE(shipped(1));
  EXPECT_FALSE(stats_.held_not_durable.load());
}

TEST_F(JournalRedisPersistenceTest, ConfigRenamedIsUnknown) {
  RedisServer renamed({"--rename-command", "CONFIG", ""});
  ASSERT_TRUE(renamed.start());
  auto j = open();
  {
    Shipper s(*j, on(renamed), stats_);
    ASSERT_TRUE(s.start());
    EXPECT_EQ(stats_.redis_aof.load(), static_cast<int>(RedisAof::Unknown));
    ASSERT_TRUE(j->append("d", {}));
    ASSERT_TRUE(shipped(1));
    s.stop(1000);
  }
  opts_.require_durable_redis = true;
  j.reset();
  j = open();
  Shipper s(*j, on(renamed), stats_);
  Status st = s.start();
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("cannot be read"), std::string::npos) << st.message();
}

// Redis down at start: nothing to judge yet. Once it is back with AOF off,
// the entries are held on disk; CONFIG SET appendonly yes releases them.
TEST_F(JournalRedisPersistenceTest, HeldOnDiskUntilRedisIsDurable) {
  RedisServer later;
  opts_.require_durable_redis = true;
  opts_.backoff_max_ms = 50;
  auto j = open();
  Shipper s(*j, on(later), stats_);
  ASSERT_TRUE(s.start());
  EXPECT_EQ(stats_.redis_aof.load(), static_cast<int>(RedisAof::Unchecked));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(j->append("d", {{"i", i}}));
  ASSERT_TRUE(later.start());
  for (int i = 0; i < 300 && !stats_.held_not_durable.load(); ++i) usleep(10000);
  ASSERT_TRUE(stats_.held_not_durable.load());
  EXPECT_EQ(stats_.shipped.load(), 0u);
  EXPECT_EQ(stats_.pending.load(), 3);
  Redis r(on(later));
  ASSERT_TRUE(r.command({"CONFIG", "SET", "appendonly", "yes"}));
  ASSERT_TRUE(shipped(3));
  EXPECT_FALSE(stats_.held_not_durable.load());
  EXPECT_EQ(stats_.redis_aof.load(), static_cast<int>(RedisAof::Everysec));
  s.stop(1000);
}

}  // namespace
}  // namespace tether::journal
