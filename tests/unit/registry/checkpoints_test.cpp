// Tests the checkpoint writer (src/registry/checkpoints) and its record
// (src/registry/checkpoint_record) against a real redis-server: the record
// holds the session's state, a stale owner is fenced, newest wins, the bound
// drops the oldest, a session's end deletes it, Redis down then back.
#include <gtest/gtest.h>
#include <sodium.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

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


class CheckpointWriterTest : public test_support::RedisTest {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    connect("ckpt");
    sid_ = SessionId::random();
  }
  std::unique_ptr<CheckpointWriter> writer(int64_t max_pending_bytes = int64_t{64} << 20, int port = 0) {
    CheckpointWriterConfig c;
    c.redis = opts_;
    if (port) c.redis.port = port;
    c.me = me_;
    c.ttl_ms = 60000;
    c.max_pending_bytes = max_pending_bytes;
    return std::make_unique<CheckpointWriter>(c);
  }
  // The session entry, as the registry writes it: owner o at epoch.
  void entry(const SessionId& sid, const Owner& o, int64_t epoch) {
    auto r = redis_->command(registry::upsert_argv(opts_.prefix, sid, o, epoch, 1000, 1000, 60000));
    ASSERT_TRUE(r) << r.message();
    // A refresh of an entry of another owner is refused: overwrite it as a take-over would.
    ASSERT_TRUE(redis_->command({"HSET", registry::session_key(opts_.prefix, sid), "host", o.host, "worker",
                                 std::to_string(o.worker), "epoch", std::to_string(epoch)}));
  }
  CheckpointRecord record(const SessionId& sid, int n, int64_t epoch = 1) {
    return CheckpointRecord{sid, "counter", epoch, unix_millis(), unix_millis() - 5000,
                            json_text(nlohmann::json{{"n", n}})};
  }
  std::string get(const SessionId& sid) {
    auto r = redis_->command({"GET", registry::state_key(opts_.prefix, sid)});
    return r ? reply_string(r->get()) : "<error>";
  }
  long long pttl(const SessionId& sid) {
    auto r = redis_->command({"PTTL", registry::state_key(opts_.prefix, sid)});
    return r ? reply_integer(r->get()) : -3;
  }
  int state_n(const SessionId& sid) {
    auto c = registry::decode_record(get(sid));
    if (!c) return -1;
    return static_cast<int>(int_field(c->state, "n").value_or(-1));
  }

  SessionId sid_;
  const Owner me_{"h1", 3, "unix:/run/w3.sock"};
  const Owner other_{"h2", 0, "unix:/run/h2w0.sock"};
};

TEST_F(CheckpointWriterTest, TheRecordHoldsTheSessionStateWithTheEntryTtl) {
  entry(sid_, me_, 1);
  auto w = writer();
  w->start();
  w->checkpoint(record(sid_, 7));
  ASSERT_TRUE(eventually([&] { return w->stats().written.load() == 1; }));
  auto c = registry::decode_record(get(sid_));
  ASSERT_TRUE(c) << c.message() << ": " << get(sid_);
  EXPECT_EQ(c->app, "counter");
  EXPECT_EQ(c->host, "h1");
  EXPECT_EQ(c->worker, 3);
  EXPECT_EQ(c->epoch, 1);
  EXPECT_EQ(int_field(c->state, "n").value_or(-1), 7);
  EXPECT_GT(pttl(sid_), 50000);
  EXPECT_LE(pttl(sid_), 60000);
  w->checkpoint(record(sid_, 8));  // updated
  ASSERT_TRUE(eventually([&] { return w->stats().written.load() == 2; }));
  EXPECT_EQ(state_n(sid_), 8);
  EXPECT_GT(w->stats().bytes.load(), 0u);
  nlohmann::json f = w->figures(SessionStats{});
  EXPECT_EQ(int_field(f, "written").value_or(-1), 2);
  EXPECT_GE(int_field(f, "lag_max_ms").value_or(-1), 0);
  w->stop();
}

TEST_F(CheckpointWriterTest, AStaleOwnerCannotOverwriteANewerOwnersRecord) {
  entry(sid_, other_, 2);  // the session moved on
  ASSERT_TRUE(redis_->command({"SET", registry::state_key(opts_.prefix, sid_), "the new owner's"}));
  SessionId newer = SessionId::random();
  entry(newer, me_, 2);  // this worker's own entry, at an epoch past the record's
  auto w = writer();
  w->start();
  w->checkpoint(record(sid_, 1));
  w->checkpoint(record(newer, 1, 1));
  ASSERT_TRUE(eventually([&] { return w->stats().fenced.load() == 2; }));
  EXPECT_EQ(get(sid_), "the new owner's");
  EXPECT_EQ(get(newer), "");
  EXPECT_EQ(w->stats().written.load(), 0u);
  // The delete of a stale owner is fenced the same way.
  w->checkpoint_ended(sid_, 1);
  ASSERT_TRUE(eventually([&] { return w->stats().fenced.load() == 3; }));
  EXPECT_EQ(get(sid_), "the new owner's");
  w->stop();
}

TEST_F(CheckpointWriterTest, NewestWinsWhileRecordsWait) {
  entry(sid_, me_, 1);
  auto w = writer();  // not started: everything waits
  w->checkpoint(record(sid_, 1));
  w->checkpoint(record(sid_, 2));
  w->checkpoint(record(sid_, 3));
  EXPECT_EQ(w->stats().pending.load(), 1);
  w->start();
  ASSERT_TRUE(eventually([&] { return w->stats().pending.load() == 0 && w->stats().written.load() >= 1; }));
  EXPECT_EQ(w->stats().written.load(), 1u);
  EXPECT_EQ(state_n(sid_), 3);
  EXPECT_EQ(w->stats().dropped.load(), 0u);
  w->stop();
}

TEST_F(CheckpointWriterTest, TheBoundDropsTheOldestPendingAndCountsThem) {
  std::vector<SessionId> sids;
  for (int i = 0; i < 5; ++i) {
    sids.push_back(SessionId::random());
    entry(sids.back(), me_, 1);
  }
  int64_t one = static_cast<int64_t>(record(sids[0], 0).state.size()) + 256;  // the writer's cost of one
  auto w = writer(3 * one);
  for (int i = 0; i < 5; ++i) w->checkpoint(record(sids[i], i));
  EXPECT_EQ(w->stats().dropped.load(), 2u);
  EXPECT_EQ(w->stats().pending.load(), 3);
  w->checkpoint_ended(sids[4], 1);  // a delete replaces the write, and is never dropped
  w->start();
  ASSERT_TRUE(eventually([&] { return w->stats().pending.load() == 0 && w->stats().deleted.load() == 1; }));
  EXPECT_EQ(get(sids[0]), "");
  EXPECT_EQ(get(sids[1]), "");
  EXPECT_EQ(state_n(sids[2]), 2);
  EXPECT_EQ(state_n(sids[3]), 3);
  EXPECT_EQ(get(sids[4]), "");
  w->stop();
}

TEST_F(CheckpointWriterTest, ASessionsEndDeletesItsRecord) {
  entry(sid_, me_, 1);
  auto w = writer();
  w->start();
  w->checkpoint(record(sid_, 1));
  ASSERT_TRUE(eventually([&] { return get(sid_) != ""; }));
  w->checkpoint_ended(sid_, 1);
  ASSERT_TRUE(eventually([&] { return w->stats().deleted.load() == 1; }));
  EXPECT_EQ(get(sid_), "");
  // The registry released the entry first: deleted all the same.
  SessionId gone = SessionId::random();
  ASSERT_TRUE(redis_->command({"SET", registry::state_key(opts_.prefix, gone), "left over"}));
  w->checkpoint_ended(gone, 1);
  ASSERT_TRUE(eventually([&] { return w->stats().deleted.load() == 2; }));
  EXPECT_EQ(get(gone), "");
  w->stop();
}

TEST_F(CheckpointWriterTest, AWriteBeforeTheEntryExistsIsTriedAgain) {
  auto w = writer();
  w->start();
  w->checkpoint(record(sid_, 4));
  std::this_thread::sleep_for(std::chrono::milliseconds(120));  // the registry's create is late on purpose
  entry(sid_, me_, 1);
  ASSERT_TRUE(eventually([&] { return w->stats().written.load() == 1; }));
  EXPECT_EQ(state_n(sid_), 4);
  EXPECT_EQ(w->stats().fenced.load(), 0u);
  w->stop();
}

TEST_F(CheckpointWriterTest, RedisDownRecordsWaitAndAreWrittenWhenItIsBack) {
  RedisServer later;
  auto w = writer(int64_t{64} << 20, later.port());
  w->start();
  w->checkpoint(record(sid_, 5));
  ASSERT_TRUE(eventually([&] { return w->stats().errors.load() >= 1; }));
  EXPECT_EQ(w->stats().pending.load(), 1);
  ASSERT_TRUE(later.start());
  RedisOptions o = opts_;
  o.port = later.port();
  Redis r(o);
  ASSERT_TRUE(r.command(registry::upsert_argv(opts_.prefix, sid_, me_, 1, 1000, 1000, 60000)));
  ASSERT_TRUE(eventually([&] { return w->stats().written.load() == 1; }));
  auto v = r.command({"GET", registry::state_key(opts_.prefix, sid_)});
  ASSERT_TRUE(v);
  auto c = registry::decode_record(reply_string(v->get()));
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(int_field(c->state, "n").value_or(-1), 5);
  w->stop();
}

TEST_F(CheckpointWriterTest, StopWritesWhatIsPendingAndDoesNotWaitOnARedisThatIsDown) {
  entry(sid_, me_, 1);
  auto w = writer();
  w->checkpoint(record(sid_, 9));  // pending before the thread runs: stop() writes it
  w->start();
  w->stop();
  EXPECT_EQ(state_n(sid_), 9);
  RedisServer never;  // never started
  auto down = writer(int64_t{64} << 20, never.port());
  down->start();
  down->checkpoint(record(sid_, 10));
  ASSERT_TRUE(eventually([&] { return down->stats().errors.load() >= 1; }));
  auto t0 = std::chrono::steady_clock::now();
  down->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
  EXPECT_EQ(down->stats().dropped.load(), 1u);
  EXPECT_EQ(state_n(sid_), 9);
}

TEST(CheckpointRecordTest, DecodeRefusesWhatIsNotARecord) {
  Owner me{"h1", 2, "a"};
  CheckpointRecord rec{SessionId::random(), "notes", 3, 1700000000000, 1690000000000, "{\"n\":1}"};
  auto ok = registry::decode_record(registry::encode_record(me, rec));
  ASSERT_TRUE(ok) << ok.message();
  EXPECT_EQ(ok->worker, 2);
  EXPECT_EQ(ok->epoch, 3);
  EXPECT_EQ(ok->at_ms, 1700000000000);
  std::string deep = std::string(200, '[') + std::string(200, ']');
  for (std::string bad : {std::string("not json"), std::string("[]"), std::string("{\"v\":2}"),
                          std::string("{\"v\":1,\"app\":\"a\",\"host\":\"h\",\"worker\":70000,\"epoch\":1,\"at\":1,"
                                      "\"created\":1,\"state\":{}}"),
                          std::string("{\"v\":1,\"app\":\"a\",\"host\":\"h\",\"worker\":1,\"epoch\":0,\"at\":1,"
                                      "\"created\":1,\"state\":{}}"),
                          std::string("{\"v\":1,\"app\":\"a\",\"host\":\"h\",\"worker\":1,\"epoch\":\"1\",\"at\":1,"
                                      "\"created\":1,\"state\":{}}"),
                          std::string("{\"v\":1,\"app\":\"a\",\"host\":\"h\",\"worker\":1,\"epoch\":1,\"at\":1,"
                                      "\"created\":1}"),
                          std::string("{\"v\":1,\"app\":\"a\",\"host\":\"h\",\"worker\":1,\"epoch\":1,\"at\":1,"
                                      "\"created\":1,\"state\":") + deep + "}",
                          std::string("\xff\xfe")}) {
    EXPECT_FALSE(registry::decode_record(bad)) << bad.substr(0, 60);
  }
}

}  // namespace
}  // namespace tether
