// Session id rotation in the registry (Registry::session_rotated) against a
// real redis-server: the new id is claimed create-if-absent at epoch 1, the
// old entry is removed only while it names this worker at the epoch held
// here (a moved or foreign entry is left alone).
#include <gtest/gtest.h>
#include <sodium.h>

#include <chrono>
#include <memory>
#include <thread>

#include "registry/entries.h"
#include "registry/registry.h"
#include "support/redis_server.h"

namespace tether {
namespace {

using test_support::eventually;

using registry::Owner;

class RegistryRotateTest : public test_support::RedisTest {
 protected:
  static void SetUpTestSuite() {
    ASSERT_GE(sodium_init(), 0);
    RedisTest::SetUpTestSuite();
  }
  void SetUp() override {
    connect("r");
    RegistryConfig c;
    c.redis = opts_;
    c.me = a_;
    c.heartbeat_ms = 100;
    registry_ = std::make_unique<Registry>(c, Registry::Hooks{});
    registry_->start();
  }
  void TearDown() override { registry_->stop(); }

  std::optional<registry::SessionEntry> read(const SessionId& sid) {
    auto r = registry::read_session(*redis_, sid);
    EXPECT_TRUE(r) << r.message();
    return r ? *r : std::nullopt;
  }

  const Owner a_{"hostA", 1, "unix:/run/a1.sock"};
  const Owner b_{"hostB", 2, "10.0.0.2:9000"};
  std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryRotateTest, TheNewIdIsClaimedAndTheOldEntryRemoved) {
  SessionId old_sid = SessionId::random(), new_sid = SessionId::random();
  registry_->session_created(old_sid, 1000);
  ASSERT_TRUE(eventually([&] { return read(old_sid).has_value(); }));
  registry_->session_rotated(old_sid, new_sid, 1000);
  ASSERT_TRUE(eventually([&] { return read(new_sid).has_value() && !read(old_sid).has_value(); }));
  auto e = read(new_sid);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->owner.host, "hostA");
  EXPECT_EQ(e->owner.worker, 1);
  EXPECT_EQ(e->epoch, 1);
  EXPECT_EQ(registry_->epoch(new_sid), 1);
}

// A session this worker took over (epoch 2) rotates: the old entry goes at
// the epoch held here, and the new id starts at 1.
TEST_F(RegistryRotateTest, AMovedSessionsOldEntryIsRemovedAtItsEpoch) {
  SessionId old_sid = SessionId::random(), new_sid = SessionId::random();
  registry::append_create(*redis_, old_sid, b_, 1000, 60000);
  ASSERT_TRUE(redis_->flush());
  ASSERT_TRUE(registry_->take_over(old_sid, b_, 1, 1000));
  ASSERT_EQ(registry_->epoch(old_sid), 2);
  registry_->session_rotated(old_sid, new_sid, 1000);
  ASSERT_TRUE(eventually([&] { return read(new_sid).has_value() && !read(old_sid).has_value(); }));
  EXPECT_EQ(read(new_sid)->epoch, 1);
  EXPECT_TRUE(eventually([&] { return registry_->epoch(old_sid) == 1; }));  // forgotten once released
}

// The old id's entry names another worker (it moved meanwhile): the
// rotation's release leaves it alone; the new id is still claimed.
TEST_F(RegistryRotateTest, AnOldEntryOfAnotherOwnerIsLeftAlone) {
  SessionId old_sid = SessionId::random(), new_sid = SessionId::random();
  registry::append_create(*redis_, old_sid, b_, 1000, 60000);
  ASSERT_TRUE(redis_->flush());
  registry_->session_rotated(old_sid, new_sid, 1000);
  ASSERT_TRUE(eventually([&] { return read(new_sid).has_value(); }));
  SessionId marker = SessionId::random();  // a later batch: the rotation's release has run when it lands
  registry_->session_created(marker, 1000);
  ASSERT_TRUE(eventually([&] { return read(marker).has_value(); }));
  auto e = read(old_sid);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->owner.host, "hostB");
}

}  // namespace
}  // namespace tether
