// Handover::receive against a real redis-server: the receiver is bounded
// like the sender (a late adopt is dropped without on_end), a take-over
// that loses to another owner drops the copy without on_end, and the
// adopted set is pruned (issue 16, item 1).
#include <gtest/gtest.h>
#include <sodium.h>

#include <future>
#include <thread>

#include "support/handover_fixture.h"

namespace tether {
namespace {

using test_support::RedisServer;

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

using HandoverBoundsTest = HandoverFixture;

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
