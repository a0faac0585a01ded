// Tests SessionHost (src/session/host): session creation, lookup, timeouts and every end path.
#include <gtest/gtest.h>
#include <sodium.h>

#include <climits>
#include <deque>
#include <stdexcept>

#include "session/host.h"

namespace tether {
namespace {

// What one session saw; owned by the test because the session is destroyed when it ends.
struct Log {
  std::vector<StartReason> starts;
  std::vector<std::string> paths;
  std::vector<EndReason> ends;
};

// Paths: "/end" asks to end the session, "/throw" throws; the body is "<own count> <request_count()>".
class Recorder final : public Session {
 public:
  explicit Recorder(Log* log) : log_(log) {}
  void on_start(StartReason r) override { log_->starts.push_back(r); }
  Response handle(const Request& req) override {
    log_->paths.push_back(req.path);
    ++count_;
    if (req.path == "/end") end();
    if (req.path == "/throw") throw std::runtime_error("handler failed on purpose");
    return Response::text(std::to_string(count_) + " " + std::to_string(request_count()) + " " + route());
  }
  void on_end(EndReason r) override { log_->ends.push_back(r); }

 private:
  Log* log_;
  int count_ = 0;
};

constexpr Millis kIdle = 1000;
constexpr Millis kLifetime = 5000;

class SessionHostTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }

  // A job for a new session (existing == false) or for sid (existing == true).
  SessionJobPtr job(const std::string& path, const SessionId* existing = nullptr) {
    auto j = std::make_shared<SessionJob>();
    j->request.method = "GET";
    j->request.path = path;
    j->factory = &factory_;
    j->existing = existing != nullptr;
    j->sid = existing ? *existing : host_.new_id();
    return j;
  }
  // Serves path for a new session and returns its id.
  SessionId start(const std::string& path = "/") {
    auto j = job(path);
    host_.serve(*j);
    EXPECT_TRUE(j->created);
    return j->created_sid;
  }
  SessionJobPtr serve(const std::string& path, const SessionId& sid) {
    auto j = job(path, &sid);
    host_.serve(*j);
    return j;
  }

  std::deque<Log> logs_;  // one per session, in creation order; deque: references stay valid
  SessionFactory factory_ = [this] {
    logs_.emplace_back();
    return std::make_unique<Recorder>(&logs_.back());
  };
  std::string route_ = "h1-0";
  ManualClock clock_;
  SessionStats stats_;
  SessionHost host_{clock_, {kIdle, kLifetime}, &route_, 0, 1, &stats_};
};

TEST_F(SessionHostTest, NewJobCreatesASessionWithTheJobsId) {
  auto j = job("/first");
  SessionId sid = j->sid;
  host_.serve(*j);
  EXPECT_TRUE(j->created);
  EXPECT_EQ(j->created_sid, sid);
  EXPECT_FALSE(j->ended);
  EXPECT_EQ(j->response.status, 200);
  EXPECT_EQ(j->response.body, "1 1 h1-0");
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_EQ(logs_[0].starts, std::vector<StartReason>{StartReason::New});
  EXPECT_EQ(logs_[0].paths, std::vector<std::string>{"/first"});
  EXPECT_TRUE(host_.contains(sid));
  EXPECT_EQ(host_.size(), 1u);
  EXPECT_EQ(stats_.created, 1u);
  EXPECT_EQ(stats_.live, 1);
  EXPECT_EQ(stats_.requests, 1u);
}

TEST_F(SessionHostTest, StartReasonOfTheJobIsPassedOn) {
  auto j = job("/");
  j->reason_if_new = StartReason::Invalid;
  host_.serve(*j);
  EXPECT_EQ(logs_.at(0).starts, std::vector<StartReason>{StartReason::Invalid});
}

TEST_F(SessionHostTest, ExistingJobReachesTheSameSession) {
  SessionId sid = start("/a");
  auto j = serve("/b", sid);
  EXPECT_FALSE(j->created);
  EXPECT_EQ(j->response.body, "2 2 h1-0");  // state kept, request_count 2
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_EQ(logs_[0].paths, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(logs_[0].starts.size(), 1u);
  EXPECT_EQ(stats_.created, 1u);
  EXPECT_EQ(stats_.requests, 2u);
}

TEST_F(SessionHostTest, UnknownExistingIdGetsANewSessionNeverTheClientsId) {
  SessionId forged = SessionId::random();
  auto j = serve("/", forged);
  EXPECT_TRUE(j->created);
  EXPECT_NE(j->created_sid, forged);
  EXPECT_FALSE(host_.contains(forged));
  EXPECT_TRUE(host_.contains(j->created_sid));
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_EQ(logs_[0].starts, std::vector<StartReason>{StartReason::Expired});
}

TEST_F(SessionHostTest, IdleTimeoutEndsTheSessionAtTheDeadlineExactly) {
  SessionId sid = start();
  clock_.advance(kIdle - 1);
  host_.sweep();
  EXPECT_TRUE(host_.contains(sid));
  EXPECT_TRUE(logs_[0].ends.empty());
  clock_.advance(1);
  host_.sweep();
  EXPECT_FALSE(host_.contains(sid));
  EXPECT_EQ(logs_[0].ends, std::vector<EndReason>{EndReason::Idle});
  EXPECT_EQ(stats_.ended_idle, 1u);
  EXPECT_EQ(stats_.live, 0);
  EXPECT_EQ(host_.size(), 0u);
}

TEST_F(SessionHostTest, ARequestRefreshesTheIdleDeadline) {
  SessionId sid = start();
  clock_.advance(600);
  serve("/again", sid);
  clock_.advance(kIdle - 1);  // 1599 after creation, 999 after the last request
  host_.sweep();
  EXPECT_TRUE(host_.contains(sid));
  clock_.advance(1);
  host_.sweep();
  EXPECT_FALSE(host_.contains(sid));
  EXPECT_EQ(logs_[0].ends, std::vector<EndReason>{EndReason::Idle});
}

TEST_F(SessionHostTest, LifetimeEndsABusySession) {
  SessionId sid = start();
  for (Millis t = kIdle / 2; t < kLifetime; t += kIdle / 2) {
    clock_.advance(kIdle / 2);
    auto j = serve("/busy", sid);
    ASSERT_FALSE(j->created) << "at " << t;
    host_.sweep();
    ASSERT_TRUE(host_.contains(sid)) << "at " << t;
  }
  clock_.advance(kIdle / 2 - 1);  // kLifetime - 1 since creation
  host_.sweep();
  EXPECT_TRUE(host_.contains(sid));
  clock_.advance(1);
  host_.sweep();
  EXPECT_FALSE(host_.contains(sid));
  EXPECT_EQ(logs_[0].ends, std::vector<EndReason>{EndReason::Lifetime});
  EXPECT_EQ(stats_.ended_lifetime, 1u);
  EXPECT_EQ(stats_.ended_idle, 0u);
}

TEST_F(SessionHostTest, RequestAfterTheDeadlineButBeforeSweepGetsANewSession) {
  SessionId sid = start();
  clock_.advance(kIdle);
  auto j = serve("/late", sid);
  EXPECT_TRUE(j->created);
  EXPECT_NE(j->created_sid, sid);
  EXPECT_FALSE(host_.contains(sid));
  ASSERT_EQ(logs_.size(), 2u);
  EXPECT_EQ(logs_[0].ends, std::vector<EndReason>{EndReason::Idle});
  EXPECT_EQ(logs_[0].paths.size(), 1u) << "the late request must not reach the old session";
  EXPECT_EQ(logs_[1].starts, std::vector<StartReason>{StartReason::Expired});
  EXPECT_EQ(logs_[1].paths, std::vector<std::string>{"/late"});
  EXPECT_EQ(stats_.ended_idle, 1u);
  EXPECT_EQ(stats_.live, 1);
  // The old session's timer must not end it twice or touch the new one.
  host_.sweep();
  EXPECT_EQ(logs_[0].ends.size(), 1u);
  EXPECT_TRUE(host_.contains(j->created_sid));
}

TEST_F(SessionHostTest, RequestAfterTheLifetimeButBeforeSweepEndsItAsLifetime) {
  SessionId sid = start();
  for (Millis t = 0; t < kLifetime; t += kIdle / 2) {
    clock_.advance(kIdle / 2);
    serve("/busy", sid);  // never sweeps
  }
  ASSERT_GE(logs_.size(), 2u);
  EXPECT_EQ(logs_[0].ends, std::vector<EndReason>{EndReason::Lifetime});
  EXPECT_EQ(stats_.ended_lifetime, 1u);
}

TEST_F(SessionHostTest, EndInHandlerEndsTheSessionAfterTheRequest) {
  SessionId sid = start();
  auto j = serve("/end", sid);
  EXPECT_TRUE(j->ended);
  EXPECT_EQ(j->response.status, 200);
  EXPECT_EQ(j->response.body, "2 2 h1-0");  // the reply of the last request is kept
  EXPECT_FALSE(host_.contains(sid));
  EXPECT_EQ(logs_[0].ends, std::vector<EndReason>{EndReason::App});
  EXPECT_EQ(stats_.ended_app, 1u);
  EXPECT_EQ(stats_.live, 0);
  // Its timer fires later: on_end must not run again.
  clock_.advance(kLifetime);
  host_.sweep();
  EXPECT_EQ(logs_[0].ends.size(), 1u);
}

TEST_F(SessionHostTest, ThrowingHandlerGives500AndTheSessionSurvives) {
  SessionId sid = start();
  auto j = serve("/throw", sid);
  EXPECT_EQ(j->response.status, 500);
  EXPECT_FALSE(j->ended);
  EXPECT_TRUE(host_.contains(sid));
  EXPECT_EQ(stats_.handler_errors, 1u);
  auto next = serve("/ok", sid);
  EXPECT_EQ(next->response.status, 200);
  EXPECT_EQ(next->response.body, "3 3 h1-0");
  EXPECT_TRUE(logs_[0].ends.empty());
}

TEST_F(SessionHostTest, KillEndsOnceAndReportsUnknownIds) {
  SessionId sid = start();
  SessionId other = start();
  EXPECT_TRUE(host_.kill(sid));
  EXPECT_EQ(logs_[0].ends, std::vector<EndReason>{EndReason::Killed});
  EXPECT_FALSE(host_.kill(sid));
  EXPECT_EQ(logs_[0].ends.size(), 1u);
  EXPECT_FALSE(host_.kill(SessionId::random()));
  EXPECT_TRUE(host_.contains(other));
  EXPECT_TRUE(logs_[1].ends.empty());
  EXPECT_EQ(stats_.ended_killed, 1u);
  EXPECT_EQ(stats_.live, 1);
  // A request for the killed id starts a new session.
  auto j = serve("/", sid);
  EXPECT_TRUE(j->created);
  EXPECT_EQ(logs_[2].starts, std::vector<StartReason>{StartReason::Expired});
}

TEST_F(SessionHostTest, EndAllEndsEverySessionWithTheReason) {
  for (int i = 0; i < 3; ++i) start();
  host_.end_all(EndReason::Shutdown);
  EXPECT_EQ(host_.size(), 0u);
  ASSERT_EQ(logs_.size(), 3u);
  for (const Log& l : logs_) EXPECT_EQ(l.ends, std::vector<EndReason>{EndReason::Shutdown});
  EXPECT_EQ(stats_.ended_shutdown, 3u);
  EXPECT_EQ(stats_.live, 0);
  EXPECT_EQ(host_.next_deadline(), INT64_MAX);
}

TEST_F(SessionHostTest, DestructorEndsLiveSessionsWithShutdown) {
  Log log;
  SessionFactory f = [&log] { return std::make_unique<Recorder>(&log); };
  SessionStats stats;
  {
    SessionHost host(clock_, {kIdle, kLifetime}, &route_, 0, 1, &stats);
    SessionJob j;
    j.factory = &f;
    j.sid = host.new_id();
    host.serve(j);
    ASSERT_TRUE(log.ends.empty());
  }
  EXPECT_EQ(log.ends, std::vector<EndReason>{EndReason::Shutdown});
  EXPECT_EQ(stats.ended_shutdown, 1u);
}

TEST_F(SessionHostTest, NextDeadlineIsTheEarliestDeadline) {
  EXPECT_EQ(host_.next_deadline(), INT64_MAX);
  Millis t0 = clock_.now_ms();
  start();
  EXPECT_EQ(host_.next_deadline(), t0 + kIdle);
  clock_.advance(100);
  SessionId b = start();
  EXPECT_EQ(host_.next_deadline(), t0 + kIdle);
  clock_.advance(kIdle - 100);
  host_.sweep();  // ends the first
  EXPECT_TRUE(host_.contains(b));
  EXPECT_EQ(host_.next_deadline(), t0 + 100 + kIdle);
  // After a request, sweep at the old deadline moves to the new one.
  serve("/", b);
  clock_.advance(100);
  host_.sweep();
  EXPECT_EQ(host_.next_deadline(), t0 + kIdle + kIdle);
  clock_.advance(kIdle);
  host_.sweep();
  EXPECT_EQ(host_.size(), 0u);
  EXPECT_EQ(host_.next_deadline(), INT64_MAX);
}

TEST_F(SessionHostTest, NextDeadlineIsCappedByTheLifetime) {
  SessionHost host(clock_, {kIdle, kIdle / 2}, &route_, 0, 1, &stats_);
  SessionJob j;
  j.factory = &factory_;
  j.sid = host.new_id();
  host.serve(j);
  EXPECT_EQ(host.next_deadline(), clock_.now_ms() + kIdle / 2);
}

// Regression: the timer of a killed or app-ended session stayed queued, so
// next_deadline() was finite with no session live (host.h says INT64_MAX).
TEST_F(SessionHostTest, NextDeadlineIsMaxAfterTheLastSessionEndsAnyWay) {
  SessionId sid = start();
  ASSERT_TRUE(host_.kill(sid));
  EXPECT_EQ(host_.size(), 0u);
  EXPECT_EQ(host_.next_deadline(), INT64_MAX);
  auto ended = job("/end");  // created and ended by its first request
  host_.serve(*ended);
  EXPECT_TRUE(ended->created);
  EXPECT_TRUE(ended->ended);
  EXPECT_EQ(host_.size(), 0u);
  EXPECT_EQ(host_.next_deadline(), INT64_MAX);
  // A session replacing an expired one is timed again.
  SessionId old = start();
  clock_.advance(kIdle);
  auto j = serve("/", old);
  ASSERT_TRUE(j->created);
  EXPECT_EQ(host_.next_deadline(), clock_.now_ms() + kIdle);
  clock_.advance(kIdle);
  host_.sweep();
  EXPECT_FALSE(host_.contains(j->created_sid));
}

TEST_F(SessionHostTest, KillingOneSessionKeepsTheOthersTimed) {
  SessionId a = start();
  clock_.advance(10);
  SessionId b = start();
  ASSERT_TRUE(host_.kill(a));
  EXPECT_LE(host_.next_deadline(), clock_.now_ms() + kIdle);
  clock_.advance(kIdle);
  host_.sweep();
  EXPECT_FALSE(host_.contains(b));
  EXPECT_EQ(logs_[1].ends, std::vector<EndReason>{EndReason::Idle});
  EXPECT_EQ(host_.next_deadline(), INT64_MAX);
}

TEST_F(SessionHostTest, NewIdsBelongToTheHostsShard) {
  SessionHost host(clock_, {kIdle, kLifetime}, &route_, 2, 3, &stats_);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(SessionIdHash{}(host.new_id()) % 3, 2u);
  // Replacement sessions for unknown ids get such ids as well.
  for (int i = 0; i < 50; ++i) {
    SessionJob j;
    j.factory = &factory_;
    j.existing = true;
    j.sid = SessionId::random();
    host.serve(j);
    ASSERT_TRUE(j.created);
    EXPECT_EQ(SessionIdHash{}(j.created_sid) % 3, 2u);
  }
}

TEST_F(SessionHostTest, ManySessionsAllExpireOnOneSweep) {
  constexpr int kCount = 10000;
  for (int i = 0; i < kCount; ++i) start();
  EXPECT_EQ(host_.size(), size_t(kCount));
  EXPECT_EQ(stats_.live, kCount);
  clock_.advance(kIdle - 1);
  host_.sweep();
  EXPECT_EQ(host_.size(), size_t(kCount));
  clock_.advance(1);
  host_.sweep();
  EXPECT_EQ(host_.size(), 0u);
  EXPECT_EQ(stats_.created, uint64_t(kCount));
  EXPECT_EQ(stats_.ended_idle, uint64_t(kCount));
  EXPECT_EQ(stats_.live, 0);
  EXPECT_EQ(host_.next_deadline(), INT64_MAX);
  ASSERT_EQ(logs_.size(), size_t(kCount));
  for (const Log& l : logs_) ASSERT_EQ(l.ends, std::vector<EndReason>{EndReason::Idle});
}

TEST_F(SessionHostTest, ShortIdIsTheIdsFirstSixBytes) {
  struct Peek final : Session {
    std::string* out;
    explicit Peek(std::string* o) : out(o) {}
    void on_start(StartReason) override { *out = short_id(); }
    Response handle(const Request&) override { return Response::text(short_id()); }
  };
  std::string seen;
  SessionFactory f = [&seen] { return std::make_unique<Peek>(&seen); };
  SessionJob j;
  j.factory = &f;
  j.sid = host_.new_id();
  host_.serve(j);
  EXPECT_EQ(seen, j.sid.hex().substr(0, 12));
  EXPECT_EQ(j.response.body, seen);
}

TEST_F(SessionHostTest, ThrowingConstructorGives500AndNoSession) {
  SessionFactory broken = []() -> std::unique_ptr<Session> { throw std::runtime_error("no"); };
  auto j = job("/x");
  j->factory = &broken;
  host_.serve(*j);
  EXPECT_EQ(j->response.status, 500);
  EXPECT_FALSE(j->created);
  EXPECT_EQ(host_.size(), 0u);
  EXPECT_EQ(stats_.handler_errors, 1u);
  EXPECT_EQ(stats_.live, 0);
}


TEST_F(SessionHostTest, AStaleCopyIsDroppedWithoutOnEndAndCountedApartFromMoves) {
  SessionId sid = start("/a");
  EXPECT_TRUE(host_.drop(sid, /*adopted=*/false));
  EXPECT_FALSE(host_.contains(sid));
  EXPECT_TRUE(logs_.at(0).ends.empty());  // no on_end: the session lives on elsewhere
  EXPECT_EQ(stats_.live, 0);
  EXPECT_EQ(stats_.dropped_stale, 1u);
  EXPECT_EQ(stats_.moved_in, 0u);  // not an adoption undone
  EXPECT_FALSE(host_.drop(sid, false));
  EXPECT_EQ(stats_.dropped_stale, 1u);
  // Its timers went with it: nothing ends later.
  clock_.advance(kLifetime + 1);
  EXPECT_EQ(host_.sweep(), 0u);
}

}  // namespace
}  // namespace tether
