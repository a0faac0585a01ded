// Ownership races on the registry entries against a real redis-server: a
// create that lands late, a take-over of an entry Redis lost, a move from an
// owner that is not the one read (issue 16, item 1).
#include <gtest/gtest.h>
#include <sodium.h>

#include <memory>
#include <string>

#include "support/redis_server.h"
#include "registry/entries.h"
#include "redis/redis.h"
#include "registry/registry.h"

namespace tether {
namespace {

using registry::Owner;
using test_support::RedisServer;

class OwnershipTest : public test_support::RedisTest {
 protected:
  static void SetUpTestSuite() {
    ASSERT_GE(sodium_init(), 0);
    RedisTest::SetUpTestSuite();
  }
  void SetUp() override {
    connect("o");
    sid_ = SessionId::random();
  }
  std::optional<registry::SessionEntry> read() {
    auto r = registry::read_session(*redis_, sid_);
    EXPECT_TRUE(r) << r.message();
    return r ? *r : std::nullopt;
  }
  long long eval(const std::vector<std::string>& argv) {
    auto r = redis_->command(argv);
    EXPECT_TRUE(r) << r.message();
    return r ? reply_integer(r->get()) : -1;
  }
  // A registry of worker `me` (its thread not started: only the synchronous calls are used).
  std::unique_ptr<Registry> registry_of(const Owner& me) {
    RegistryConfig c;
    c.redis = opts_;
    c.me = me;
    return std::make_unique<Registry>(c, Registry::Hooks{});
  }

  SessionId sid_;
  const Owner a_{"hostA", 1, "unix:/run/a1.sock"};
  const Owner b_{"hostB", 2, "10.0.0.2:9000"};
  const Owner c_{"hostC", 3, "10.0.0.3:9000"};
};

// A's create was still queued (Redis slow) when a drain moved the session to
// B, whose take-over found no entry and wrote its own: A's create, landing
// late, must not name A again (B's refresh would then fail and B would end
// the moved session as lost).
TEST_F(OwnershipTest, ALateCreateDoesNotOverwriteTheEntryOfTheSessionsNewOwner) {
  auto b = registry_of(b_);
  ASSERT_TRUE(b->take_over(sid_, a_, 1, 1000));
  registry::append_create(*redis_, sid_, a_, 1000, 60000);
  auto replies = redis_->flush();
  ASSERT_TRUE(replies) << replies.message();
  auto e = read();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->owner.host, "hostB");
  EXPECT_EQ(e->owner.worker, 2);
  // B's refresh still finds the session its own.
  EXPECT_EQ(eval(registry::upsert_argv(opts_.prefix, sid_, b_, e->epoch, 1000, 3000, 60000)), 1);
}

// A create of an id no one holds makes the entry; a second create of the
// same id by another worker changes nothing.
TEST_F(OwnershipTest, CreateIsCreateIfAbsent) {
  registry::append_create(*redis_, sid_, a_, 1000, 60000);
  ASSERT_TRUE(redis_->flush());
  registry::append_create(*redis_, sid_, c_, 2000, 60000);
  ASSERT_TRUE(redis_->flush());
  auto e = read();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->owner.host, "hostA");
  EXPECT_EQ(e->epoch, 1);
  EXPECT_EQ(e->created_ms, 1000);
}

// The take-over of a session whose entry Redis lost writes it above the
// epoch the sender held, so that nothing the sender still has queued at its
// old epoch can re-create it naming the sender.
TEST_F(OwnershipTest, ATakeOverOfALostEntryIsAboveTheSendersEpoch) {
  auto b = registry_of(b_);
  ASSERT_TRUE(b->take_over(sid_, a_, 1, 1000));
  auto e = read();
  ASSERT_TRUE(e);
  EXPECT_GE(e->epoch, 2);
  // A's stale refresh at epoch 1 is refused.
  EXPECT_EQ(eval(registry::upsert_argv(opts_.prefix, sid_, a_, 1, 1000, 3000, 60000)), 0);
  EXPECT_EQ(read()->owner.host, "hostB");
}

// C holds the session: B's take-over from A is refused, and the entry stays C's.
TEST_F(OwnershipTest, ATakeOverFromAnOwnerThatNoLongerOwnsIsRefused) {
  ASSERT_EQ(eval(registry::upsert_argv(opts_.prefix, sid_, c_, 1, 1000, 2000, 60000)), 1);
  auto b = registry_of(b_);
  EXPECT_FALSE(b->take_over(sid_, a_, 1, 1000));
  auto e = read();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->owner.host, "hostC");
  EXPECT_EQ(e->epoch, 1);
}

}  // namespace
}  // namespace tether
