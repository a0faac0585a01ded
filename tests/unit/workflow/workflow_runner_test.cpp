// TicketRunner against a real redis-server with poison written into the
// ticket hash: the ticket fails once with the reason (counted, expiring),
// nothing is handed back to the queue, no step is called.
#include <gtest/gtest.h>

#include "common/firewall.h"
#include "support/redis_server.h"
#include "workflow/runner.h"
#include "workflow/tickets.h"

namespace tether::workflow {
namespace {

using test_support::RedisServer;

class RunnerTest : public test_support::RedisTest {
 protected:
  static void SetUpTestSuite() {
    StepClient::global_init();
    RedisTest::SetUpTestSuite();
  }
  void SetUp() override {
    connect("r");
    def_.name = "w";
    def_.start_point_url = "http://127.0.0.1:" + std::to_string(test_support::free_port()) + "/never";
    def_.retries = 0;
    def_.step_timeout_ms = 2000;
    def_.ticket_ttl_s = 3600;
  }
  std::string field(const std::string& ticket, const std::string& f) {
    auto r = redis_->command({"HGET", ticket_key(opts_.prefix, "w", ticket), f});
    return r ? reply_string(r->get()) : "error: " + r.message();
  }
  long long llen(const std::string& key) {
    auto r = redis_->command({"LLEN", key});
    return r ? reply_integer(r->get()) : -1;
  }
  // Writes a ticket hash with these fields, queues it, moves and takes it as a dispatcher would.
  std::string taken(const std::vector<std::string>& fields) {
    std::string t = new_ticket_id();
    std::vector<std::string> argv{"HSET", ticket_key(opts_.prefix, "w", t), "status.current", "enqueued"};
    argv.insert(argv.end(), fields.begin(), fields.end());
    EXPECT_TRUE(redis_->command(argv));
    EXPECT_TRUE(redis_->command({"LPUSH", processing_key(opts_.prefix, "w"), t}));
    auto r = take_ticket(*redis_, "w", t, "tok", 5000, "h1-0", 1);
    EXPECT_TRUE(r && *r == "ok");
    return t;
  }

  Definition def_;
  Stats stats_;
};

TEST_F(RunnerTest, PoisonPayloadsFailOnceWithTheReason) {
  struct Case {
    std::vector<std::string> fields;
    const char* want;
  } cases[] = {
      {{"payload.key", "\xff", "payload.data", "null"}, "'payload.key': not valid UTF-8"},
      {{"payload.key", "k", "payload.data", std::string(300000, '[') + std::string(300000, ']')},
       "'payload.data': JSON nested deeper"},
      {{"payload.data", "null"}, "'payload.key'"},
      {{"payload.key", "k", "payload.data", "{not json"}, "'payload.data': not valid JSON"},
  };
  TicketRunner runner(def_, opts_, stats_);
  std::atomic<int> stop{kRunOn};
  uint64_t refused_before = firewall::refused_count("ticket.bad_hash");
  for (const auto& c : cases) {
    std::string t = taken(c.fields);
    runner.run(t, "tok", stop);
    EXPECT_EQ(field(t, "status.current"), "failed") << c.want;
    EXPECT_NE(field(t, "error").find(c.want), std::string::npos) << field(t, "error");
    EXPECT_EQ(field(t, "finished"), "1");
    EXPECT_EQ(field(t, "steps"), "");  // no step was called
    auto ttl = redis_->command({"TTL", ticket_key(opts_.prefix, "w", t)});
    EXPECT_GT(reply_integer(ttl->get()), 3000);
  }
  EXPECT_EQ(llen(processing_key(opts_.prefix, "w")), 0);
  EXPECT_EQ(llen(incoming_key(opts_.prefix, "w")), 0);
  EXPECT_EQ(stats_.bad_tickets.load(), 4);
  EXPECT_EQ(stats_.failed.load(), 4);
  EXPECT_EQ(firewall::refused_count("ticket.bad_hash") - refused_before, 4u);
}

TEST_F(RunnerTest, AGoodPayloadIsRunAndItsStepFailureRecorded) {
  TicketRunner runner(def_, opts_, stats_);
  std::atomic<int> stop{kRunOn};
  std::string t = taken({"payload.key", "k", "payload.data", "{\"a\": 1}"});
  runner.run(t, "tok", stop);
  EXPECT_EQ(field(t, "status.current"), "failed");
  EXPECT_EQ(field(t, "steps"), "1");
  EXPECT_EQ(field(t, "step.0.status"), "failed");
  EXPECT_EQ(stats_.bad_tickets.load(), 0);
}


// A runner paused past its lease (SIGSTOP, a slow step) while the ticket was
// requeued and taken by another holder: it calls no step and records
// nothing in the ticket the new holder reset.
TEST_F(RunnerTest, ARunnerThatLostItsLeaseCallsNoStepAndRecordsNothing) {
  TicketRunner runner(def_, opts_, stats_);
  std::atomic<int> stop{kRunOn};  // the lease keeper has not noticed yet
  std::string t = taken({"payload.key", "k", "payload.data", "{\"a\": 1}"});
  ASSERT_TRUE(redis_->command({"DEL", lease_key(opts_.prefix, "w", t)}));  // expired while paused
  ASSERT_EQ(*reap_ticket(*redis_, "w", t, 2), "requeued");
  ASSERT_TRUE(redis_->command({"LMOVE", incoming_key(opts_.prefix, "w"), processing_key(opts_.prefix, "w"), "RIGHT",
                               "LEFT"}));
  ASSERT_EQ(*take_ticket(*redis_, "w", t, "new", 5000, "h2-0", 3), "ok");
  runner.run(t, "tok", stop);
  EXPECT_EQ(field(t, "status.current"), "dispatched");  // the new holder's, untouched
  EXPECT_EQ(field(t, "steps"), "");
  EXPECT_EQ(field(t, "step.0.status"), "");
  EXPECT_EQ(field(t, "worker"), "h2-0");
  EXPECT_EQ(stats_.steps.load(), 0);
  EXPECT_EQ(stats_.failed.load(), 0);
  EXPECT_EQ(stats_.stopped.load(), 1);

  // Each ticket write by the old holder is refused in the same script as its check.
  EXPECT_EQ(*record_steps(*redis_, "w", t, "tok", {"step.0.name", "late"}, 1), "lost");
  EXPECT_EQ(field(t, "step.0.name"), "");
  EXPECT_EQ(*record_steps(*redis_, "w", t, "new", {"step.0.name", "mine"}, 1), "ok");
  EXPECT_EQ(field(t, "step.0.name"), "mine");
  EXPECT_EQ(field(t, "steps"), "1");

}

// A ticket whose lease is held by someone else is not taken again.
TEST_F(RunnerTest, ATicketLeasedByAnotherHolderIsNotTaken) {
  std::string t = taken({"payload.key", "k", "payload.data", "null"});
  EXPECT_EQ(*take_ticket(*redis_, "w", t, "second", 5000, "h2-0", 3), "leased");
  EXPECT_EQ(field(t, "worker"), "h1-0");
  EXPECT_EQ(field(t, "runs"), "1");
}

}  // namespace
}  // namespace tether::workflow
