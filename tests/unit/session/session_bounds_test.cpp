// Tests the session bounds: max_sessions in SessionHost (ManualClock) and
// across a SessionPool's threads, max_queued per session in SessionPool
// (real threads, a session that blocks until released), and Placement's
// answer when this worker is full (no registry).
#include <gtest/gtest.h>
#include <sodium.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "session/pool.h"
#include "cluster/placement.h"

namespace tether {
namespace {

// Holds every request whose path is "/block" until open() (thread-safe).
class Gate {
 public:
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    inside_++;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
  }
  // Waits (bounded) until n requests are held; false if they never came.
  bool wait_inside(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return inside_ >= n; });
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int inside_ = 0;
  bool open_ = false;
};

class Held final : public Session {
 public:
  explicit Held(Gate* gate) : gate_(gate) {}
  Response handle(const Request& req) override {
    if (req.path == "/block") gate_->wait();
    return Response::text(std::to_string(request_count()));
  }
  std::optional<nlohmann::json> snapshot() const override { return nlohmann::json::object(); }
  bool restore(const nlohmann::json&) override { return true; }

 private:
  Gate* gate_;
};

SessionJobPtr make_job(const SessionFactory* f, const std::string& path, const SessionId& sid, bool existing,
                       int64_t max_sessions = 0, int max_queued = 0) {
  auto j = std::make_shared<SessionJob>();
  j->request.method = "GET";
  j->request.path = path;
  j->factory = f;
  j->sid = sid;
  j->existing = existing;
  j->max_sessions = max_sessions;
  j->max_queued = max_queued;
  return j;
}

class SessionBoundsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }
  Gate gate_;
  SessionFactory factory_ = [this] { return std::make_unique<Held>(&gate_); };
  SessionFactory null_factory_ = [] { return std::unique_ptr<Session>(); };
};

// --- SessionHost: max_sessions -------------------------------------------------

class HostBoundsTest : public SessionBoundsTest {
 protected:
  SessionJobPtr fresh(int64_t max, const SessionFactory* f = nullptr) {
    auto j = make_job(f ? f : &factory_, "/", host_.new_id(), false, max);
    host_.serve(*j);
    return j;
  }
  std::string route_ = "h1-0";
  ManualClock clock_;
  SessionStats stats_;
  SessionHost host_{clock_, {1000, 5000}, &route_, 0, 1, &stats_};
};

TEST_F(HostBoundsTest, NoNewSessionAtMaxSessions) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(fresh(3)->created);
  auto j = fresh(3);
  EXPECT_FALSE(j->created);
  EXPECT_TRUE(j->full);
  EXPECT_EQ(host_.size(), 3u);
  EXPECT_EQ(stats_.live, 3);
  EXPECT_EQ(stats_.created, 3u);
  EXPECT_EQ(stats_.refused_full, 1u);
  EXPECT_EQ(stats_.requests, 3u);  // the refused request ran nothing
}

TEST_F(HostBoundsTest, ExistingSessionsAreServedAtMaxSessions) {
  SessionId sid = fresh(1)->created_sid;
  auto j = make_job(&factory_, "/", sid, true, 1);
  host_.serve(*j);
  EXPECT_FALSE(j->full);
  EXPECT_EQ(j->response.body, "2");
}

TEST_F(HostBoundsTest, AnUnknownCookieAtMaxSessionsMakesNoSession) {
  fresh(1);
  auto j = make_job(&factory_, "/", SessionId::random(), true, 1);  // expired here: would be a new session
  host_.serve(*j);
  EXPECT_TRUE(j->full);
  EXPECT_FALSE(j->created);
  EXPECT_EQ(stats_.live, 1);
}

TEST_F(HostBoundsTest, AnEndedSessionMakesRoom) {
  fresh(2);
  fresh(2);
  EXPECT_TRUE(fresh(2)->full);
  clock_.advance(1000);  // idle timeout
  EXPECT_EQ(host_.sweep(), 2u);
  EXPECT_TRUE(fresh(2)->created);
  EXPECT_EQ(stats_.live, 1);
}

TEST_F(HostBoundsTest, AFailedConstructorGivesItsPlaceBack) {
  fresh(2);
  auto j = fresh(2, &null_factory_);
  EXPECT_FALSE(j->full);
  EXPECT_EQ(j->response.status, 500);
  EXPECT_EQ(stats_.live, 1);
  EXPECT_TRUE(fresh(2)->created);
  EXPECT_TRUE(fresh(2)->full);
}

TEST_F(HostBoundsTest, ZeroMeansNoBound) {
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(fresh(0)->created);
  EXPECT_EQ(stats_.refused_full, 0u);
}

TEST_F(HostBoundsTest, AHandedOverSessionIsTakenPastTheBound) {
  fresh(1);
  // The session exists already; refusing it would end it.
  ASSERT_TRUE(host_.adopt(host_.new_id(), &factory_, {{"state", nlohmann::json::object()}}));
  EXPECT_EQ(stats_.live, 2);
  EXPECT_TRUE(fresh(1)->full);
}

// --- SessionPool: max_sessions across threads, max_queued per session ------------

class PoolBoundsTest : public SessionBoundsTest {
 protected:
  void SetUp() override {
    SessionBoundsTest::SetUp();
    pool_.start();
  }
  void TearDown() override { gate_.open(); }
  SessionId create() {
    auto j = make_job(&factory_, "/", SessionId::random(), false);
    EXPECT_EQ(pool_.post(j), Posted::Ok);
    j->wait();
    EXPECT_TRUE(j->created);
    return j->created_sid;
  }
  SteadyClock clock_;
  SessionPool pool_{clock_, {3600 * 1000, 7200 * 1000}, "h1-0", 4};
};

TEST_F(PoolBoundsTest, MaxSessionsHoldsAcrossThreadsCreatingAtOnce) {
  constexpr int kMax = 10, kTries = 400;
  std::vector<SessionJobPtr> jobs;
  std::vector<std::thread> posters;
  std::mutex mu;
  for (int t = 0; t < 4; ++t) {
    posters.emplace_back([&] {
      for (int i = 0; i < kTries / 4; ++i) {
        auto j = make_job(&factory_, "/", SessionId::random(), false, kMax);
        ASSERT_EQ(pool_.post(j), Posted::Ok);
        std::lock_guard<std::mutex> lock(mu);
        jobs.push_back(j);
      }
    });
  }
  for (auto& t : posters) t.join();
  int created = 0, full = 0;
  for (auto& j : jobs) {
    j->wait();
    created += j->created;
    full += j->full;
  }
  EXPECT_EQ(created, kMax);
  EXPECT_EQ(full, kTries - kMax);
  EXPECT_EQ(pool_.stats().live, kMax);
  EXPECT_EQ(pool_.stats().refused_full, uint64_t(kTries - kMax));
}

TEST_F(PoolBoundsTest, RequestsBeyondMaxQueuedForOneSessionAreRefused) {
  SessionId slow = create(), other = create();
  // One request runs (held), one waits: two for the session.
  auto held = make_job(&factory_, "/block", slow, true, 0, 2);
  ASSERT_EQ(pool_.post(held), Posted::Ok);
  ASSERT_TRUE(gate_.wait_inside(1));
  auto waiting = make_job(&factory_, "/", slow, true, 0, 2);
  ASSERT_EQ(pool_.post(waiting), Posted::Ok);
  auto third = make_job(&factory_, "/", slow, true, 0, 2);
  EXPECT_EQ(pool_.post(third), Posted::Busy);
  EXPECT_EQ(pool_.post(make_job(&factory_, "/", slow, true, 0, 2)), Posted::Busy);
  EXPECT_EQ(pool_.stats().refused_queued, 2u);
  // Another session, even on the same thread, is not refused (it waits behind the held one).
  auto other_job = make_job(&factory_, "/", other, true, 0, 2);
  EXPECT_EQ(pool_.post(other_job), Posted::Ok);
  // New sessions are not counted per session.
  auto fresh = make_job(&factory_, "/", SessionId::random(), false, 0, 1);
  EXPECT_EQ(pool_.post(fresh), Posted::Ok);
  gate_.open();
  held->wait();
  waiting->wait();
  EXPECT_FALSE(third->finished());  // refused: never ran
  EXPECT_EQ(waiting->response.body, "3");  // create, held, waiting
  // The session's count fell back as its requests finished: it takes requests again.
  auto after = make_job(&factory_, "/", slow, true, 0, 2);
  ASSERT_EQ(pool_.post(after), Posted::Ok);
  after->wait();
  EXPECT_EQ(after->response.body, "4");
  other_job->wait();
  fresh->wait();
}

TEST_F(PoolBoundsTest, AnAbandonedRequestCountsUntilItsTurnComes) {
  SessionId slow = create();
  auto held = make_job(&factory_, "/block", slow, true, 0, 2);
  ASSERT_EQ(pool_.post(held), Posted::Ok);
  ASSERT_TRUE(gate_.wait_inside(1));
  auto gave_up = make_job(&factory_, "/", slow, true, 0, 2);
  ASSERT_EQ(pool_.post(gave_up), Posted::Ok);
  gave_up->abandoned.store(true);  // its acceptor timed out; the job is still queued
  EXPECT_EQ(pool_.post(make_job(&factory_, "/", slow, true, 0, 2)), Posted::Busy);
  gate_.open();
  gave_up->wait();
  auto after = make_job(&factory_, "/", slow, true, 0, 2);
  EXPECT_EQ(pool_.post(after), Posted::Ok);
  after->wait();
  EXPECT_EQ(after->response.body, "3");  // the abandoned one did not run
}

TEST_F(PoolBoundsTest, ZeroMaxQueuedMeansNoBound) {
  SessionId slow = create();
  auto held = make_job(&factory_, "/block", slow, true);
  ASSERT_EQ(pool_.post(held), Posted::Ok);
  ASSERT_TRUE(gate_.wait_inside(1));
  std::vector<SessionJobPtr> queued;
  for (int i = 0; i < 100; ++i) {
    queued.push_back(make_job(&factory_, "/", slow, true));
    ASSERT_EQ(pool_.post(queued.back()), Posted::Ok);
  }
  gate_.open();
  for (auto& j : queued) j->wait();
  EXPECT_EQ(pool_.stats().refused_queued, 0u);
}

// --- Placement: this worker full, no directory --------------------------------------

TEST(PlacementRoomTest, LocalPolicyCreatesHereWhileThereIsRoom) {
  Placement p(Placement::Policy::Local, true, "h1", 0, nullptr, nullptr);
  Request req;
  bool full = true;
  auto r = p.choose(req, {3, false}, &full);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(*r, "");
}

TEST(PlacementRoomTest, FullHereAndNoOtherWorkerKnownIsNoRoom) {
  for (auto policy : {Placement::Policy::Local, Placement::Policy::RoundRobin, Placement::Policy::LeastLoaded}) {
    Placement p(policy, true, "h1", 0, nullptr, nullptr);
    Request req;
    bool full = false;
    auto r = p.choose(req, {3, true}, &full);
    ASSERT_FALSE(r);
    EXPECT_TRUE(full);
    EXPECT_NE(r.message().find("max_sessions"), std::string::npos) << r.message();
  }
}

TEST(PlacementRoomTest, AFrontOnlyWorkerWithNoPeersIsNotARoomRefusal) {
  Placement p(Placement::Policy::Local, false, "h1", 0, nullptr, nullptr);
  Request req;
  bool full = false;
  auto r = p.choose(req, {3, true}, &full);
  ASSERT_FALSE(r);
  EXPECT_FALSE(full);
}

}  // namespace
}  // namespace tether
