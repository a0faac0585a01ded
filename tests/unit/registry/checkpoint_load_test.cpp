// Tests the checkpoint writer's read side for hibernation
// (src/registry/checkpoint_load.cpp) against a real redis-server: load()
// finds a record still pending before Redis has it, then the one in Redis;
// a record in Redis that does not decode, names another owner, epoch or
// app, or is not a string is refused and counted (checkpoint.bad_record);
// hibernation records are never dropped for the pending bound; with Redis
// down, load() says Unavailable and accepting() turns false.
#include <gtest/gtest.h>
#include <sodium.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/firewall.h"
#include "common/json.h"
#include "redis/reply.h"
#include "registry/checkpoint_record.h"
#include "registry/checkpoints.h"
#include "support/redis_server.h"

namespace tether {
namespace {

using test_support::eventually;

using registry::Owner;
using test_support::RedisServer;
using Kind = LoadedCheckpoint::Kind;


class CheckpointLoadTest : public test_support::RedisTest {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    connect("ckload");
    sid_ = SessionId::random();
  }
  std::unique_ptr<CheckpointWriter> writer(int64_t max_pending_bytes = int64_t{64} << 20, int port = 0) {
    CheckpointWriterConfig c;
    c.redis = opts_;
    c.redis.connect_timeout_ms = 200;
    c.redis.io_timeout_ms = 200;
    if (port) c.redis.port = port;
    c.me = me_;
    c.ttl_ms = 60000;
    c.max_pending_bytes = max_pending_bytes;
    return std::make_unique<CheckpointWriter>(c);
  }
  void entry(const SessionId& sid, const Owner& o, int64_t epoch) {
    ASSERT_TRUE(redis_->command({"HSET", registry::session_key(opts_.prefix, sid), "host", o.host, "worker",
                                 std::to_string(o.worker), "epoch", std::to_string(epoch)}));
  }
  CheckpointRecord record(const SessionId& sid, int n, int64_t epoch = 1, bool keep = true) {
    CheckpointRecord r{sid, "counter", epoch, unix_millis(), unix_millis() - 5000,
                       json_text(nlohmann::json{{"n", n}})};
    r.keep = keep;
    return r;
  }
  void put(const std::string& value) {
    ASSERT_TRUE(redis_->command({"SET", registry::state_key(opts_.prefix, sid_), value}));
  }
  static int n_of(const LoadedCheckpoint& l) { return static_cast<int>(int_field(l.state, "n").value_or(-1)); }

  SessionId sid_;
  const Owner me_{"h1", 3, "unix:/run/w3.sock"};
  const Owner other_{"h2", 0, "unix:/run/h2w0.sock"};
};

TEST_F(CheckpointLoadTest, APendingRecordIsFoundBeforeRedisHasItThenTheOneInRedis) {
  entry(sid_, me_, 1);
  auto w = writer();
  w->checkpoint(record(sid_, 7));  // the thread is not running: it waits
  LoadedCheckpoint l = w->load(sid_, 1, "counter");
  ASSERT_EQ(l.kind, Kind::Found) << l.why;
  EXPECT_EQ(n_of(l), 7);
  EXPECT_GT(l.at_ms, 0);
  w->start();
  ASSERT_TRUE(eventually([&] { return w->stats().written.load() == 1; }));
  EXPECT_EQ(w->stats().pending.load(), 0);
  l = w->load(sid_, 1, "counter");  // from Redis now
  ASSERT_EQ(l.kind, Kind::Found) << l.why;
  EXPECT_EQ(n_of(l), 7);
  w->stop();
}

TEST_F(CheckpointLoadTest, NoRecordIsMissing) {
  auto w = writer();
  EXPECT_EQ(w->load(sid_, 1, "counter").kind, Kind::Missing);
  w->checkpoint_ended(sid_, 1);  // a delete pending: the record is as good as gone
  EXPECT_EQ(w->load(sid_, 1, "counter").kind, Kind::Missing);
}

TEST_F(CheckpointLoadTest, HostileRecordsInRedisAreRefusedAndCounted) {
  auto w = writer();
  auto valid = [&](const Owner& o, int64_t epoch, const std::string& app) {
    CheckpointRecord r = record(sid_, 5, epoch);
    r.app = app;
    return registry::encode_record(o, r);
  };
  put(valid(me_, 1, "counter"));
  ASSERT_EQ(w->load(sid_, 1, "counter").kind, Kind::Found);  // the control: this one is good
  const std::vector<std::string> bad = {
      "not json {",
      "[1,2,3]",
      R"({"v":2,"app":"counter","host":"h1","worker":3,"epoch":1,"at":1,"created":1,"state":{"n":1}})",
      R"({"v":1,"app":"counter","host":"h1","worker":3,"epoch":1,"at":1,"created":1})",
      std::string(100, '[') + std::string(100, ']'),
      "\xff\xfe garbage",
      valid(other_, 1, "counter"),  // another owner's
      valid(me_, 2, "counter"),     // another epoch
      valid(me_, 1, "notes"),       // another app
  };
  for (const std::string& v : bad) {
    uint64_t before = firewall::refused_count(registry::kBadRecord);
    put(v);
    LoadedCheckpoint l = w->load(sid_, 1, "counter");
    EXPECT_EQ(l.kind, Kind::Refused) << v;
    EXPECT_EQ(firewall::refused_count(registry::kBadRecord), before + 1) << v;
  }
  uint64_t before = firewall::refused_count(registry::kBadRecord);
  ASSERT_TRUE(redis_->command({"DEL", registry::state_key(opts_.prefix, sid_)}));
  ASSERT_TRUE(redis_->command({"RPUSH", registry::state_key(opts_.prefix, sid_), "x"}));  // not a string
  EXPECT_EQ(w->load(sid_, 1, "counter").kind, Kind::Refused);
  EXPECT_EQ(firewall::refused_count(registry::kBadRecord), before + 1);
}

TEST_F(CheckpointLoadTest, HibernationRecordsAreNeverDroppedForTheBound) {
  auto w = writer(4096);  // about a dozen small records
  w->checkpoint(record(sid_, 1, 1, true));
  for (int i = 0; i < 100; ++i) w->checkpoint(record(SessionId::random(), i, 1, false));
  EXPECT_GT(w->stats().dropped.load(), 0u);
  LoadedCheckpoint l = w->load(sid_, 1, "counter");
  ASSERT_EQ(l.kind, Kind::Found) << l.why;
  EXPECT_EQ(n_of(l), 1);
  EXPECT_FALSE(w->accepting());  // the backlog is at its bound: hibernation waits
}

TEST_F(CheckpointLoadTest, RedisDownLoadIsUnavailableAndTheWriterStopsAccepting) {
  RedisServer never;  // never started: nothing listens on its port
  auto w = writer(int64_t{64} << 20, never.port());
  EXPECT_TRUE(w->accepting());
  EXPECT_EQ(w->load(sid_, 1, "counter").kind, Kind::Unavailable);
  w->start();
  w->checkpoint(record(sid_, 1));
  ASSERT_TRUE(eventually([&] { return !w->accepting(); }));
  EXPECT_EQ(w->load(sid_, 1, "counter").kind, Kind::Found);  // still pending: readable
  w->stop();
}

}  // namespace
}  // namespace tether
