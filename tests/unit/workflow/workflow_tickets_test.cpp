// Ticket state changes against a real redis-server: create, take, renew,
// finish once, requeue after a lost lease, cancel, retry.
#include <gtest/gtest.h>

#include "support/redis_server.h"
#include "workflow/tickets.h"

namespace tether::workflow {
namespace {

using test_support::RedisServer;

class TicketsTest : public test_support::RedisTest {
 protected:
  void SetUp() override {
    connect("t");
    p_ = opts_.prefix;
  }
  std::string field(const std::string& ticket, const std::string& f) {
    auto r = redis_->command({"HGET", ticket_key(p_, "w", ticket), f});
    return r ? reply_string(r->get()) : "error: " + r.message();
  }
  long long llen(const std::string& key) {
    auto r = redis_->command({"LLEN", key});
    return r ? reply_integer(r->get()) : -1;
  }
  // Moves the next ticket to processing, as the dispatcher does.
  std::string move() {
    auto r = redis_->command({"BLMOVE", incoming_key(p_, "w"), processing_key(p_, "w"), "RIGHT", "LEFT", "1"});
    return r ? reply_string(r->get()) : "";
  }

  std::string p_;
};

TEST_F(TicketsTest, RunsOnceToDone) {
  std::string t = new_ticket_id();
  ASSERT_EQ(*create_ticket(*redis_, "w", t, "k", "{\"a\":1}", 100, 100), "ok");
  EXPECT_EQ(field(t, "status.current"), "enqueued");
  EXPECT_EQ(field(t, "payload.data"), "{\"a\":1}");
  EXPECT_EQ(move(), t);
  auto taken = take_ticket(*redis_, "w", t, "tok", 5000, "h1-0", 200);
  ASSERT_TRUE(taken);
  EXPECT_EQ(*taken, "ok");
  EXPECT_EQ(field(t, "status.current"), "dispatched");
  EXPECT_EQ(field(t, "worker"), "h1-0");
  redis_->append({"DEL", "unused"});
  append_renew(*redis_, "w", t, "tok", 5000);
  append_renew(*redis_, "w", t, "other", 5000);
  auto renewed = redis_->flush();
  ASSERT_TRUE(renewed);
  EXPECT_EQ(reply_string((*renewed)[1].get()), "dispatched");
  EXPECT_EQ(reply_string((*renewed)[2].get()), "lost");
  EXPECT_EQ(*finish_ticket(*redis_, "w", t, "other", "done", "", 1, 300, 0), "lost");
  EXPECT_EQ(*finish_ticket(*redis_, "w", t, "tok", "done", "", 1, 300, 0), "ok");
  EXPECT_EQ(*finish_ticket(*redis_, "w", t, "tok", "done", "", 1, 300, 0), "lost");  // the lease is gone
  EXPECT_EQ(field(t, "status.current"), "done");
  EXPECT_EQ(field(t, "status.done.time"), "300");
  EXPECT_EQ(field(t, "finished"), "1");
  EXPECT_EQ(llen(processing_key(p_, "w")), 0);
}

TEST_F(TicketsTest, ExpiredLeaseIsRequeuedAndTheStepsOfTheDeadRunCleared) {
  std::string t = new_ticket_id();
  ASSERT_EQ(*create_ticket(*redis_, "w", t, "k", "null", 100, 100), "ok");
  EXPECT_EQ(move(), t);
  ASSERT_EQ(*take_ticket(*redis_, "w", t, "dead", 5000, "h1-1", 200), "ok");
  ASSERT_TRUE(redis_->command({"HSET", ticket_key(p_, "w", t), "step.0.name", "half", "steps", "1"}));
  EXPECT_EQ(*reap_ticket(*redis_, "w", t, 250), "alive");
  ASSERT_TRUE(redis_->command({"DEL", lease_key(p_, "w", t)}));  // as if it expired
  EXPECT_EQ(*reap_ticket(*redis_, "w", t, 300), "requeued");
  EXPECT_EQ(*reap_ticket(*redis_, "w", t, 300), "gone");
  EXPECT_EQ(field(t, "status.current"), "enqueued");
  EXPECT_EQ(field(t, "requeued"), "1");
  EXPECT_EQ(move(), t);
  ASSERT_EQ(*take_ticket(*redis_, "w", t, "new", 5000, "h1-0", 400), "ok");
  EXPECT_EQ(field(t, "step.0.name"), "");
  EXPECT_EQ(field(t, "steps"), "");
  EXPECT_EQ(field(t, "runs"), "2");
  EXPECT_EQ(*finish_ticket(*redis_, "w", t, "dead", "done", "", 1, 500, 0), "lost");
  EXPECT_EQ(*finish_ticket(*redis_, "w", t, "new", "failed", "boom", 1, 500, 0), "ok");
  EXPECT_EQ(field(t, "error"), "boom");
}

TEST_F(TicketsTest, CancelAndRetry) {
  std::string queued = new_ticket_id(), running = new_ticket_id();
  ASSERT_EQ(*create_ticket(*redis_, "w", queued, "k", "null", 1, 100), "ok");
  ASSERT_EQ(*create_ticket(*redis_, "w", running, "k", "null", 1, 100), "ok");
  EXPECT_EQ(move(), queued);
  EXPECT_EQ(move(), running);
  // queued: cancelled after the move, before take: take refuses it
  EXPECT_EQ(*cancel_ticket(*redis_, "w", queued, 2, 0), "cancelled");
  EXPECT_EQ(*take_ticket(*redis_, "w", queued, "tok", 5000, "h1-0", 3), "cancelled");
  ASSERT_EQ(*take_ticket(*redis_, "w", running, "tok", 5000, "h1-0", 3), "ok");
  EXPECT_EQ(*cancel_ticket(*redis_, "w", running, 4, 0), "cancelled");
  EXPECT_EQ(*cancel_ticket(*redis_, "w", running, 4, 0), "refused:cancelled");
  EXPECT_EQ(*retry_ticket(*redis_, "w", running, 5), "refused:stopping");  // its runner still holds the lease
  EXPECT_EQ(*finish_ticket(*redis_, "w", running, "tok", "done", "", 1, 6, 0), "cancelled");
  EXPECT_EQ(field(running, "status.current"), "cancelled");
  EXPECT_EQ(llen(processing_key(p_, "w")), 0);
  EXPECT_EQ(*retry_ticket(*redis_, "w", running, 7), "enqueued");
  EXPECT_EQ(llen(incoming_key(p_, "w")), 1);
  EXPECT_EQ(*retry_ticket(*redis_, "w", running, 7), "refused:enqueued");
  EXPECT_EQ(*cancel_ticket(*redis_, "w", new_ticket_id(), 8, 0), "missing");
  EXPECT_EQ(*retry_ticket(*redis_, "w", new_ticket_id(), 8), "missing");
}

TEST_F(TicketsTest, ReadTicket) {
  std::string t = new_ticket_id();
  auto none = read_ticket(*redis_, "w", t);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->what, TicketRead::kMissing);
  ASSERT_EQ(*create_ticket(*redis_, "w", t, "key1", "[1]", 9, 100), "ok");
  auto h = read_ticket(*redis_, "w", t);
  ASSERT_TRUE(h);
  ASSERT_EQ(h->what, TicketRead::kFound) << h->why;
  EXPECT_EQ(h->ticket.key, "key1");
  EXPECT_EQ(h->ticket.data, nlohmann::json::array({1}));
  EXPECT_EQ(h->ticket.status, "enqueued");
  EXPECT_EQ(h->ticket.times.at("enqueued"), 9);
}

TEST_F(TicketsTest, StartsBeyondMaxIncomingAreRefusedWritingNothing) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(*create_ticket(*redis_, "w", new_ticket_id(), "k", "null", 1, 3), "ok");
  std::string extra = new_ticket_id();
  EXPECT_EQ(*create_ticket(*redis_, "w", extra, "k", "null", 1, 3), "full");
  EXPECT_EQ(llen(incoming_key(p_, "w")), 3);
  EXPECT_EQ(field(extra, "status.current"), "");
  EXPECT_EQ(move().size(), 36u);
  EXPECT_EQ(*create_ticket(*redis_, "w", extra, "k", "null", 1, 3), "ok");  // room again
}

long long ttl(Redis& redis, const std::string& key) {
  auto r = redis.command({"TTL", key});
  return r ? reply_integer(r->get()) : -100;
}

TEST_F(TicketsTest, FinishedTicketsExpireAndARetryKeepsThemAgain) {
  std::string done = new_ticket_id(), cancelled = new_ticket_id(), kept = new_ticket_id();
  for (const auto& t : {done, cancelled, kept}) ASSERT_EQ(*create_ticket(*redis_, "w", t, "k", "null", 1, 100), "ok");
  EXPECT_EQ(ttl(*redis_, ticket_key(p_, "w", done)), -1);
  EXPECT_EQ(move(), done);
  ASSERT_EQ(*take_ticket(*redis_, "w", done, "tok", 5000, "h1-0", 2), "ok");
  EXPECT_EQ(ttl(*redis_, ticket_key(p_, "w", done)), -1);  // no expiry while it runs
  ASSERT_EQ(*finish_ticket(*redis_, "w", done, "tok", "failed", "boom", 1, 3, 600), "ok");
  long long left = ttl(*redis_, ticket_key(p_, "w", done));
  EXPECT_GT(left, 590);
  EXPECT_LE(left, 600);
  EXPECT_EQ(*retry_ticket(*redis_, "w", done, 4), "enqueued");
  EXPECT_EQ(ttl(*redis_, ticket_key(p_, "w", done)), -1);
  EXPECT_EQ(*cancel_ticket(*redis_, "w", cancelled, 5, 60), "cancelled");
  EXPECT_GT(ttl(*redis_, ticket_key(p_, "w", cancelled)), 50);
  EXPECT_EQ(*cancel_ticket(*redis_, "w", kept, 5, 0), "cancelled");  // 0: kept
  EXPECT_EQ(ttl(*redis_, ticket_key(p_, "w", kept)), -1);
}

TEST_F(TicketsTest, AKeyOfAnotherTypeIsNoTicket) {
  std::string t = new_ticket_id();
  ASSERT_TRUE(redis_->command({"SET", ticket_key(p_, "w", t), "a string"}));
  ASSERT_TRUE(redis_->command({"LPUSH", processing_key(p_, "w"), t}));
  EXPECT_EQ(*take_ticket(*redis_, "w", t, "tok", 5000, "h1-0", 1), "not a hash");
  EXPECT_EQ(llen(processing_key(p_, "w")), 0);
  auto r = read_ticket(*redis_, "w", t);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->what, TicketRead::kBad);
  EXPECT_NE(r->why.find("no hash"), std::string::npos) << r->why;
  EXPECT_EQ(*cancel_ticket(*redis_, "w", t, 2, 60), "missing");
  EXPECT_EQ(*retry_ticket(*redis_, "w", t, 2), "missing");
  ASSERT_TRUE(redis_->command({"LPUSH", processing_key(p_, "w"), t}));
  EXPECT_EQ(*reap_ticket(*redis_, "w", t, 3), "gone");
  EXPECT_EQ(llen(processing_key(p_, "w")), 0);
  auto kept = redis_->command({"GET", ticket_key(p_, "w", t)});
  EXPECT_EQ(reply_string(kept->get()), "a string");  // changed nothing
}

TEST_F(TicketsTest, ReadTicketRefusesAHashThatDoesNotDecode) {
  std::string t = new_ticket_id();
  ASSERT_TRUE(redis_->command({"HSET", ticket_key(p_, "w", t), "status.current", "done", "steps", "1e9"}));
  auto r = read_ticket(*redis_, "w", t);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->what, TicketRead::kBad);
  EXPECT_NE(r->why.find("'steps'"), std::string::npos) << r->why;
  std::string u = new_ticket_id();
  ASSERT_TRUE(redis_->command({"HSET", ticket_key(p_, "w", u), "status.current", "done", "payload.key", "\xff",
                               "\xfe", "x"}));
  auto ok = read_ticket(*redis_, "w", u);
  ASSERT_TRUE(ok) << ok.message();
  ASSERT_EQ(ok->what, TicketRead::kFound) << ok->why;
  EXPECT_EQ(ok->ticket.key, "\xff");
}

}  // namespace
}  // namespace tether::workflow
