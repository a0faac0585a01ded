// Tests the registry entries and their Lua scripts (src/registry/entries) against a real redis-server.
#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/redis_server.h"
#include "registry/entries.h"
#include "redis/redis.h"

namespace tether {
namespace {

using registry::Owner;
using test_support::RedisServer;

class RegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_GE(sodium_init(), 0);
    main_ = std::make_unique<RedisServer>();
    main_ok_ = main_->start();
  }
  static void TearDownTestSuite() { main_.reset(); }
  void SetUp() override {
    ASSERT_TRUE(main_ok_) << "redis-server did not start";
    prefix_ = std::string("t:") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ":";
    redis_ = std::make_unique<Redis>(options());
    sid_ = SessionId::random();
    key_ = registry::session_key(prefix_, sid_);
  }

  RedisOptions options(int port = main_->port()) const {
    RedisOptions o;
    o.port = port;
    o.prefix = prefix_;
    return o;
  }
  // Runs an EVAL; the integer reply, or -1 on an error.
  long long eval(const std::vector<std::string>& argv) {
    auto r = redis_->command(argv);
    EXPECT_TRUE(r) << r.message();
    return r ? reply_integer(r->get()) : -1;
  }
  std::string field(const std::string& name) {
    auto r = redis_->command({"HGET", key_, name});
    return r ? reply_string(r->get()) : "<error>";
  }
  long long integer(const std::vector<std::string>& argv) {
    auto r = redis_->command(argv);
    EXPECT_TRUE(r) << r.message();
    return r ? reply_integer(r->get()) : -1;
  }
  long long upsert(const Owner& o, int64_t epoch, int64_t now, int64_t ttl = 60000) {
    return eval(registry::upsert_argv(prefix_, sid_, o, epoch, 1000, now, ttl));
  }
  std::optional<registry::SessionEntry> read() {
    auto r = registry::read_session(*redis_, sid_);
    EXPECT_TRUE(r) << r.message();
    return r ? *r : std::nullopt;
  }

  static inline std::unique_ptr<RedisServer> main_;
  static inline bool main_ok_ = false;
  std::string prefix_, key_;
  std::unique_ptr<Redis> redis_;
  SessionId sid_;
  const Owner a_{"hostA", 1, "unix:/run/a1.sock"};
  const Owner b_{"hostB", 2, "10.0.0.2:9000"};
};

TEST_F(RegistryTest, UpsertCreatesTheEntryWithTtl) {
  EXPECT_EQ(upsert(a_, 5, 2000, 60000), 1);
  EXPECT_EQ(field("host"), "hostA");
  EXPECT_EQ(field("worker"), "1");
  EXPECT_EQ(field("addr"), "unix:/run/a1.sock");
  EXPECT_EQ(field("epoch"), "5");
  EXPECT_EQ(field("created"), "1000");
  EXPECT_EQ(field("last_seen"), "2000");
  long long pttl = integer({"PTTL", key_});
  EXPECT_GT(pttl, 59000);
  EXPECT_LE(pttl, 60000);
}

TEST_F(RegistryTest, UpsertByTheOwnerRefreshesLastSeenAndTtl) {
  ASSERT_EQ(upsert(a_, 1, 2000), 1);
  ASSERT_EQ(integer({"PEXPIRE", key_, "5000"}), 1);
  EXPECT_EQ(upsert(a_, 1, 3000, 60000), 1);
  EXPECT_EQ(field("last_seen"), "3000");
  EXPECT_EQ(field("created"), "1000");
  EXPECT_GT(integer({"PTTL", key_}), 59000);
}

TEST_F(RegistryTest, UpsertByAnotherOwnerOrEpochLeavesTheEntryAlone) {
  ASSERT_EQ(upsert(a_, 1, 2000), 1);
  ASSERT_EQ(integer({"PEXPIRE", key_, "30000"}), 1);
  Owner other_worker = a_, other_host = a_;
  other_worker.worker = 9;
  other_host.host = "hostZ";
  EXPECT_EQ(upsert(other_worker, 1, 5000), 0);
  EXPECT_EQ(upsert(other_host, 1, 5000), 0);
  EXPECT_EQ(upsert(b_, 1, 5000), 0);
  EXPECT_EQ(upsert(a_, 2, 5000), 0);
  auto e = read();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->owner.host, "hostA");
  EXPECT_EQ(e->owner.worker, 1);
  EXPECT_EQ(e->epoch, 1);
  EXPECT_EQ(e->last_seen_ms, 2000);
  EXPECT_LE(integer({"PTTL", key_}), 30000);  // not refreshed by the losers
}

TEST_F(RegistryTest, ReleaseDeletesOnlyForTheOwnerAndEpoch) {
  ASSERT_EQ(upsert(a_, 3, 2000), 1);
  EXPECT_EQ(eval(registry::release_argv(prefix_, sid_, b_, 3)), 0);
  EXPECT_EQ(eval(registry::release_argv(prefix_, sid_, a_, 2)), 0);
  EXPECT_EQ(integer({"EXISTS", key_}), 1);
  EXPECT_EQ(eval(registry::release_argv(prefix_, sid_, a_, 3)), 1);
  EXPECT_EQ(integer({"EXISTS", key_}), 0);
  EXPECT_EQ(eval(registry::release_argv(prefix_, sid_, a_, 3)), 0);  // gone already
}

TEST_F(RegistryTest, TransferMovesFromTheReadEpochOnlyOnce) {
  ASSERT_EQ(upsert(a_, 1, 2000), 1);
  EXPECT_EQ(eval(registry::transfer_argv(prefix_, sid_, a_, 1, b_, 4000, 60000)), 2);
  Owner c{"hostC", 3, "unix:/c"};
  EXPECT_EQ(eval(registry::transfer_argv(prefix_, sid_, a_, 1, c, 4500, 60000)), 0);  // the second mover loses
  auto e = read();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->owner.host, "hostB");
  EXPECT_EQ(e->owner.worker, 2);
  EXPECT_EQ(e->owner.addr, "10.0.0.2:9000");
  EXPECT_EQ(e->epoch, 2);
  EXPECT_EQ(e->created_ms, 1000);
  EXPECT_EQ(e->last_seen_ms, 4000);
  // The old owner can neither refresh nor delete it; the new one can refresh.
  EXPECT_EQ(upsert(a_, 1, 5000), 0);
  EXPECT_EQ(eval(registry::release_argv(prefix_, sid_, a_, 1)), 0);
  EXPECT_EQ(integer({"EXISTS", key_}), 1);
  EXPECT_EQ(upsert(b_, 2, 6000), 1);
  EXPECT_EQ(field("last_seen"), "6000");
  // Nothing to move from: no entry.
  sid_ = SessionId::random();
  EXPECT_EQ(eval(registry::transfer_argv(prefix_, sid_, a_, 0, b_, 4000, 60000)), -1);
  // Owner and epoch are compared together: the right epoch from the wrong owner moves nothing.
  ASSERT_EQ(upsert(a_, 4, 2000), 1);
  EXPECT_EQ(eval(registry::transfer_argv(prefix_, sid_, b_, 4, b_, 4000, 60000)), 0);
  EXPECT_EQ(read()->owner.host, "hostA");
}

TEST_F(RegistryTest, TwoConcurrentMoversNeverBothWin) {
  for (int round = 0; round < 20; ++round) {
    sid_ = SessionId::random();
    ASSERT_EQ(upsert(a_, 7, 2000), 1);
    long long got[2] = {-1, -1};
    std::vector<std::thread> movers;
    for (int i = 0; i < 2; ++i) {
      movers.emplace_back([&, i] {
        Redis r(options());
        Owner to{"mover", i, "unix:/m"};
        auto rep = r.command(registry::transfer_argv(prefix_, sid_, a_, 7, to, 3000, 60000));
        got[i] = rep ? reply_integer(rep->get()) : -1;
      });
    }
    for (auto& t : movers) t.join();
    EXPECT_EQ(got[0] + got[1], 8) << "round " << round << ": " << got[0] << ", " << got[1];
    EXPECT_TRUE(got[0] == 0 || got[1] == 0);
    auto e = read();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->epoch, 8);
    EXPECT_EQ(e->owner.worker, got[0] == 8 ? 0 : 1);
  }
}

TEST_F(RegistryTest, EntriesExpire) {
  ASSERT_EQ(upsert(a_, 1, 2000, 200), 1);
  EXPECT_EQ(integer({"EXISTS", key_}), 1);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (integer({"EXISTS", key_}) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling Redis' TTL with a deadline
  }
  EXPECT_EQ(integer({"EXISTS", key_}), 0);
  EXPECT_FALSE(read());
}

TEST_F(RegistryTest, ReadSessionOfAMissingKeyIsNullopt) {
  auto r = registry::read_session(*redis_, sid_);
  ASSERT_TRUE(r) << r.message();
  EXPECT_FALSE(r->has_value());
}

TEST_F(RegistryTest, ScriptsRunByShaAfterScriptLoad) {
  auto sha = redis_->command({"SCRIPT", "LOAD", registry::upsert_script()});
  ASSERT_TRUE(sha) << sha.message();
  auto argv = registry::upsert_argv(prefix_, sid_, a_, 1, 1000, 2000, 60000);
  argv[0] = "EVALSHA";
  argv[1] = reply_string(sha->get());
  EXPECT_EQ(eval(argv), 1);
  auto rsha = redis_->command({"SCRIPT", "LOAD", registry::release_script()});
  ASSERT_TRUE(rsha) << rsha.message();
  auto rel = registry::release_argv(prefix_, sid_, a_, 1);
  rel[0] = "EVALSHA";
  rel[1] = reply_string(rsha->get());
  EXPECT_EQ(eval(rel), 1);
  EXPECT_EQ(integer({"EXISTS", key_}), 0);
}

constexpr int64_t kBeat = 1000;
constexpr int64_t kNow = 1700000000000;

registry::WorkerInfo worker(const std::string& host, int n) {
  registry::WorkerInfo w;
  w.host = host;
  w.worker = n;
  w.addr = "unix:/run/" + host + "-" + std::to_string(n) + ".sock";
  w.accepting = n % 2 == 0;
  w.sessions = 10 + n;
  w.pid = 4000 + n;
  w.started_ms = 123;
  return w;
}

void beat(Redis& redis, const registry::WorkerInfo& w, int64_t now) {
  registry::append_heartbeat(redis, w, now, kBeat);
  auto replies = redis.flush();
  ASSERT_TRUE(replies) << replies.message();
  ASSERT_EQ(replies->size(), 4u);
  for (const auto& r : *replies) EXPECT_NE(r->type, REDIS_REPLY_ERROR) << reply_string(r.get());
}

TEST_F(RegistryTest, HeartbeatMakesAWorkerVisible) {
  beat(*redis_, worker("h1", 2), kNow);
  beat(*redis_, worker("h1", 3), kNow - 500);
  auto live = registry::read_workers(*redis_, kNow, kBeat);
  ASSERT_TRUE(live) << live.message();
  ASSERT_EQ(live->size(), 2u);
  const auto& w = (*live)[0].worker == 2 ? (*live)[0] : (*live)[1];
  const auto& v = (*live)[0].worker == 2 ? (*live)[1] : (*live)[0];
  EXPECT_EQ(w.host, "h1");
  EXPECT_EQ(w.worker, 2);
  EXPECT_EQ(w.addr, "unix:/run/h1-2.sock");
  EXPECT_TRUE(w.accepting);
  EXPECT_EQ(w.sessions, 12);
  EXPECT_EQ(w.pid, 4002);
  EXPECT_EQ(w.heartbeat_ms, kNow);
  EXPECT_EQ(v.worker, 3);
  EXPECT_FALSE(v.accepting);
  EXPECT_EQ(v.heartbeat_ms, kNow - 500);
  EXPECT_GT(integer({"PTTL", prefix_ + "worker:h1:2"}), 0);
}

TEST_F(RegistryTest, WorkersSilentForThreeIntervalsAreNotLive) {
  beat(*redis_, worker("h", 1), kNow - 3 * kBeat - 1);
  beat(*redis_, worker("h", 2), kNow - 3 * kBeat);
  beat(*redis_, worker("h", 3), kNow);
  auto live = registry::read_workers(*redis_, kNow, kBeat);
  ASSERT_TRUE(live) << live.message();
  std::vector<int> ids;
  for (const auto& w : *live) ids.push_back(w.worker);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<int>{2, 3}));
}

TEST_F(RegistryTest, WorkersSilentForTenIntervalsAreRemoved) {
  beat(*redis_, worker("h", 1), kNow - 10 * kBeat - 1);
  beat(*redis_, worker("h", 2), kNow - 10 * kBeat);
  beat(*redis_, worker("h", 3), kNow);  // its heartbeat sweeps the zset
  auto score = [&](const std::string& name) { return redis_->command({"ZSCORE", prefix_ + "workers", name}); };
  auto gone = score("h:1"), kept = score("h:2");
  ASSERT_TRUE(gone) << gone.message();
  ASSERT_TRUE(kept) << kept.message();
  EXPECT_EQ(gone->get()->type, REDIS_REPLY_NIL);
  EXPECT_EQ(reply_integer(kept->get()), kNow - 10 * kBeat);
  EXPECT_EQ(integer({"ZCARD", prefix_ + "workers"}), 2);
}

TEST_F(RegistryTest, WorkerWithoutItsHashIsNotLive) {
  beat(*redis_, worker("h", 1), kNow);
  beat(*redis_, worker("h", 2), kNow);
  ASSERT_EQ(integer({"DEL", prefix_ + "worker:h:1"}), 1);  // as if its hash expired
  auto live = registry::read_workers(*redis_, kNow, kBeat);
  ASSERT_TRUE(live) << live.message();
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].worker, 2);
}

}  // namespace
}  // namespace tether
