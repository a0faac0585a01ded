// Ticket hashes whose counters (runs, finished, requeued) are no integers,
// against a real redis-server: taking or reaping such a ticket fails it with
// the reason and removes it from processing. Before, the take script stopped
// at HINCRBY with a Redis error after it had written the lease and
// "dispatched", the ticket stayed in processing, the keepers requeued it when
// the lease ran out, and it went round for ever (and a reap stopped midway
// left it in no queue at all).
#include <gtest/gtest.h>

#include "support/redis_server.h"
#include "workflow/tickets.h"

namespace tether::workflow {
namespace {

using test_support::RedisServer;

class TicketCountersTest : public test_support::RedisTest {
 protected:
  void SetUp() override {
    connect("c");
    p_ = opts_.prefix;
  }
  std::string get(const std::string& ticket, const std::string& f) {
    auto r = redis_->command({"HGET", ticket_key(p_, "w", ticket), f});
    return r ? reply_string(r->get()) : "error: " + r.message();
  }
  long long count(const std::vector<std::string>& cmd) {
    auto r = redis_->command(cmd);
    return r ? reply_integer(r->get()) : -1;
  }
  // A ticket with one corrupt counter, in processing as after BLMOVE.
  std::string poison(const std::string& counter, const std::string& value) {
    std::string t = new_ticket_id();
    EXPECT_TRUE(redis_->command({"HSET", ticket_key(p_, "w", t), "payload.key", "k", "payload.data", "{}",
                                 "status.current", "enqueued", counter, value}));
    EXPECT_TRUE(redis_->command({"LPUSH", processing_key(p_, "w"), t}));
    return t;
  }

  std::string p_;
};

TEST_F(TicketCountersTest, TakingATicketWithABadCounterFailsIt) {
  for (const char* counter : {"runs", "finished", "requeued"}) {
    for (const char* value : {"many", "99999999999999999999", "1.5", "", "\xff"}) {
      std::string t = poison(counter, value);
      auto taken = take_ticket(*redis_, "w", t, "tok", 5000, "h1-0", 7);
      ASSERT_TRUE(taken) << counter << "=" << value << ": " << taken.message();
      EXPECT_EQ(*taken, std::string("bad hash: ") + counter + " is no integer");
      EXPECT_EQ(count({"LLEN", processing_key(p_, "w")}), 0) << counter << "=" << value;
      EXPECT_EQ(count({"EXISTS", lease_key(p_, "w", t)}), 0) << "no lease taken";
      EXPECT_EQ(get(t, "status.current"), "failed");
      EXPECT_EQ(get(t, "status.failed.time"), "7");
      EXPECT_NE(get(t, "error").find(counter), std::string::npos);
      EXPECT_EQ(get(t, counter), value) << "the counter is left as found";
    }
  }
  std::string ok = poison("runs", "-3");  // a negative integer is still an integer
  EXPECT_EQ(*take_ticket(*redis_, "w", ok, "tok", 5000, "h1-0", 7), "ok");
  EXPECT_EQ(get(ok, "runs"), "-2");
}

TEST_F(TicketCountersTest, ReapingATicketWithABadCounterFailsItInsteadOfLosingIt) {
  std::string t = poison("requeued", "x");
  auto r = reap_ticket(*redis_, "w", t, 9);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(*r, "bad hash: requeued is no integer");
  EXPECT_EQ(count({"LLEN", processing_key(p_, "w")}), 0);
  EXPECT_EQ(count({"LLEN", incoming_key(p_, "w")}), 0) << "not requeued";
  EXPECT_EQ(get(t, "status.current"), "failed");
}

}  // namespace
}  // namespace tether::workflow
