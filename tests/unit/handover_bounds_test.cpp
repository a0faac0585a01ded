// Handover::receive against a real redis-server: the receiver is bounded
// like the sender (a late adopt is dropped without on_end), a take-over
// that loses to another owner drops the copy without on_end, and the
// adopted set is pruned (issue 16, item 1).
#include <gtest/gtest.h>
#include <sodium.h>

#include <future>
#include <thread>

#include "common/clock.h"
#include "redis_server.h"
#include "registry/entries.h"
#include "worker/handover.h"

namespace tether {
namespace {

using test_support::RedisServer;

struct Seen {
  std::atomic<int> starts{0}, restores{0}, ends{0};
};

class Moving final : public Session {
 public:
  explicit Moving(Seen* seen) : seen_(seen) {}
  void on_start(StartReason) override { seen_->starts++; }
  Response handle(const Request&) override { return Response::text(std::to_string(++n_)); }
  void on_end(EndReason) override { seen_->ends++; }
  std::optional<nlohmann::json> snapshot() const override { return nlohmann::json{{"n", n_}}; }
  bool restore(const nlohmann::json& s) override {
    seen_->restores++;
    n_ = s.value("n", 0);
    return true;
  }

 private:
  Seen* seen_;
  int n_ = 0;
};

// Holds its session thread in handle() until released.
class Blocker final : public Session {
 public:
  explicit Blocker(std::shared_future<void> released) : released_(std::move(released)) {}
  Response handle(const Request&) override {
    released_.wait();
    return Response::text("released");
  }

 private:
  std::shared_future<void> released_;
};

TokenCodec test_codec() {
  uint8_t b[kTokenKeyBytes];
  randombytes_buf(b, sizeof b);
  std::vector<TokenKey> k;
  k.emplace_back(b);
  auto r = TokenCodec::from_keys(std::move(k));
  if (!r) throw std::runtime_error(r.message());
  return std::move(r.value());
}

class HandoverBoundsTest : public test_support::RedisTest {
 protected:
  static void SetUpTestSuite() {
    ASSERT_GE(sodium_init(), 0);
    RedisTest::SetUpTestSuite();
  }
  void SetUp() override {
    connect("h");
    config_.host = "hostB";
    config_.worker = 2;
    config_.request_timeout_s = 30;
    RegistryConfig rc;
    rc.redis = opts_;
    rc.me = b_;
    registry_ = std::make_unique<Registry>(rc, Registry::Hooks{});
    auth_ = std::make_unique<PeerAuth>(codec_);
    forwarder_ = std::make_unique<Forwarder>(config_, *auth_, registry_.get());
    pool_ = std::make_unique<SessionPool>(clock_, SessionTimeouts{}, "hostB-2", 1);
    pool_->start();
    apps_["kit"] = [this] { return std::make_unique<Moving>(&seen_); };
    handover_ = std::make_unique<Handover>(config_, *forwarder_, *pool_, *registry_, apps_);
  }
  void TearDown() override {
    if (pool_) pool_->stop();
  }
  // The registry entry names `o` at `epoch`.
  void owned_by(const SessionId& sid, const registry::Owner& o, int64_t epoch) {
    auto r = redis_->command(registry::upsert_argv(opts_.prefix, sid, o, epoch, 1000, 2000, 60000));
    ASSERT_TRUE(r) << r.message();
    ASSERT_EQ(reply_integer(r->get()), 1);
  }
  Request envelope(const SessionId& sid, int64_t epoch, int64_t deadline_ms) {
    Request req;
    req.method = "POST";
    req.path = kHandoverPath;
    nlohmann::json j = {{"sid", sid.hex()}, {"app", "kit"}, {"state", {{"n", 5}}}, {"created", unix_millis()},
                        {"epoch", epoch}, {"deadline_ms", deadline_ms}};
    req.body = j.dump();
    return req;
  }
  size_t live() { return pool_->snapshot().size(); }

  Config config_;
  TokenCodec codec_ = test_codec();
  SteadyClock clock_;
  Seen seen_;
  std::map<std::string, SessionFactory> apps_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<PeerAuth> auth_;
  std::unique_ptr<Forwarder> forwarder_;
  std::unique_ptr<SessionPool> pool_;
  std::unique_ptr<Handover> handover_;
  const registry::Owner a_{"hostA", 1, "unix:/run/a1.sock"};
  const registry::Owner b_{"hostB", 2, "unix:/run/b2.sock"};
  const registry::Owner c_{"hostC", 3, "unix:/run/c3.sock"};
};

TEST_F(HandoverBoundsTest, AMoveFromAnOwnerThatNoLongerOwnsIsDroppedWithoutOnEnd) {
  SessionId sid = SessionId::random();
  owned_by(sid, c_, 2);  // C took it meanwhile
  Response r = handover_->receive(envelope(sid, 1, unix_millis() + 5000), Forwarded{"hostA-1", ""});
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(seen_.restores.load(), 1);
  EXPECT_EQ(seen_.ends.load(), 0) << "the session lives on at C: the app is not told it ended";
  EXPECT_EQ(live(), 0u);
  EXPECT_FALSE(handover_->adopted(sid));
  EXPECT_EQ(pool_->stats().live.load(), 0);
}

TEST_F(HandoverBoundsTest, TheReceiverGivesUpAtTheSendersDeadlineAndALateAdoptMakesNothing) {
  SessionId sid = SessionId::random();
  owned_by(sid, a_, 1);
  // The session thread is busy past the sender's deadline.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  SessionFactory blocker = [released] { return std::make_unique<Blocker>(released); };
  auto job = std::make_shared<SessionJob>();
  job->factory = &blocker;
  job->sid = SessionId::random();  // one session thread: every id is on it
  job->request.path = "/";
  ASSERT_EQ(pool_->post(job), Posted::Ok);
  auto answer = std::async(std::launch::async, [&] {
    return handover_->receive(envelope(sid, 1, unix_millis() + 300), Forwarded{"hostA-1", ""});
  });
  bool in_time = answer.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  EXPECT_TRUE(in_time) << "the receiver waited past the sender's deadline";
  release.set_value();
  Response r = answer.get();
  EXPECT_NE(r.status, 200) << r.body;
  ASSERT_TRUE(job->wait_for(std::chrono::seconds(5)));
  EXPECT_EQ(live(), 1u) << "a late adopt is dropped: only the blocker is live";
  EXPECT_EQ(seen_.ends.load(), 0);
  EXPECT_EQ(seen_.starts.load(), 0);
  auto e = registry::read_session(*redis_, sid);
  ASSERT_TRUE(e && e->has_value());
  EXPECT_EQ((*e)->owner.host, "hostA") << "the entry stays the sender's";
  EXPECT_FALSE(handover_->adopted(sid));
}

TEST_F(HandoverBoundsTest, AnOnTimeMoveTakesTheEntryAboveTheSendersEpoch) {
  SessionId sid = SessionId::random();
  owned_by(sid, a_, 3);
  Response r = handover_->receive(envelope(sid, 3, unix_millis() + 5000), Forwarded{"hostA-1", ""});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(live(), 1u);
  EXPECT_TRUE(handover_->adopted(sid));
  auto e = registry::read_session(*redis_, sid);
  ASSERT_TRUE(e && e->has_value());
  EXPECT_EQ((*e)->owner.host, "hostB");
  EXPECT_EQ((*e)->epoch, 4);
  EXPECT_EQ(registry_->epoch(sid), 4);
  // The sender's fence now fails: it learns the session lives at B.
  RegistryConfig ra;
  ra.redis = opts_;
  ra.me = a_;
  Registry a(ra, Registry::Hooks{});
  auto fence = a.reclaim(sid, 1000);
  ASSERT_TRUE(fence) << fence.message();
  ASSERT_TRUE(fence->has_value());
  EXPECT_EQ((*fence)->host, "hostB");
}

TEST_F(HandoverBoundsTest, TheSendersFenceMakesALateTakeOverFail) {
  SessionId sid = SessionId::random();
  owned_by(sid, a_, 1);
  RegistryConfig ra;
  ra.redis = opts_;
  ra.me = a_;
  Registry a(ra, Registry::Hooks{});
  auto fence = a.reclaim(sid, 1000);  // the sender gave up first
  ASSERT_TRUE(fence) << fence.message();
  EXPECT_FALSE(fence->has_value()) << "still the sender's";
  EXPECT_EQ(a.epoch(sid), 2);
  Response r = handover_->receive(envelope(sid, 1, unix_millis() + 5000), Forwarded{"hostA-1", ""});
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(live(), 0u);
  EXPECT_EQ(seen_.ends.load(), 0);
}

TEST_F(HandoverBoundsTest, TheAdoptedSetIsPruned) {
  config_.lifetime_s = 0;  // no cookie naming the old worker outlives the move
  for (int i = 0; i < 3; ++i) {
    SessionId sid = SessionId::random();
    owned_by(sid, a_, 1);
    Response r = handover_->receive(envelope(sid, 1, unix_millis() + 5000), Forwarded{"hostA-1", ""});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_FALSE(handover_->adopted(sid));
  }
  EXPECT_LE(handover_->adopted_count(), 1u);
}

}  // namespace
}  // namespace tether
