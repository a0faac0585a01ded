// Tests Session::rotate_id (src/session/host, pool): the live session goes on
// under a fresh id of the same shard with its state, the old id is retired at
// once (a request for it gets a new session, reason expired), the observer
// (the registry) hears old -> new, and timers follow the new id.
#include <gtest/gtest.h>
#include <sodium.h>

#include <deque>
#include <future>
#include <vector>

#include "session/host.h"
#include "session/pool.h"

namespace tether {
namespace {

struct Log {
  std::vector<StartReason> starts;
  std::vector<EndReason> ends;
  std::vector<std::string> ids;  // short_id() seen by each request
};

// "/rotate" asks for a new id, "/rotate-end" asks for both; the body is the count.
class Counter final : public Session {
 public:
  explicit Counter(Log* log) : log_(log) {}
  void on_start(StartReason r) override { log_->starts.push_back(r); }
  Response handle(const Request& req) override {
    log_->ids.push_back(short_id());
    ++count_;
    if (req.path == "/rotate" || req.path == "/rotate-end") rotate_id();
    if (req.path == "/rotate-end") end();
    return Response::text(std::to_string(count_) + " " + std::to_string(epoch()));
  }
  void on_end(EndReason r) override { log_->ends.push_back(r); }

 private:
  Log* log_;
  int count_ = 0;
};

// Records what the registry would be told; session_rotated is overridden by
// Registry, and the default (created + ended) is checked with Plain below.
struct Recorder final : SessionObserver {
  std::vector<SessionId> created, ended;
  std::vector<std::pair<SessionId, SessionId>> rotated;
  void session_created(const SessionId& sid, int64_t) override { created.push_back(sid); }
  void session_used(const SessionId&, int64_t) override {}
  void session_ended(const SessionId& sid, EndReason) override { ended.push_back(sid); }
  void session_rotated(const SessionId& o, const SessionId& n, int64_t) override { rotated.emplace_back(o, n); }
};

struct Plain final : SessionObserver {
  std::vector<SessionId> created, ended;
  void session_created(const SessionId& sid, int64_t) override { created.push_back(sid); }
  void session_used(const SessionId&, int64_t) override {}
  void session_ended(const SessionId& sid, EndReason) override { ended.push_back(sid); }
};

constexpr Millis kIdle = 1000;
constexpr Millis kLifetime = 5000;

class SessionRotateTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }
  SessionJobPtr job(const std::string& path, const SessionId* existing = nullptr) {
    auto j = std::make_shared<SessionJob>();
    j->request.path = path;
    j->factory = &factory_;
    j->existing = existing != nullptr;
    j->sid = existing ? *existing : host_.new_id();
    return j;
  }
  SessionJobPtr serve(const std::string& path, const SessionId* existing = nullptr) {
    auto j = job(path, existing);
    host_.serve(*j);
    return j;
  }

  std::deque<Log> logs_;
  SessionFactory factory_ = [this] {
    logs_.emplace_back();
    return std::make_unique<Counter>(&logs_.back());
  };
  std::string route_ = "h1-0";
  ManualClock clock_;
  SessionStats stats_;
  Recorder observer_;
  SessionHost host_{clock_, {kIdle, kLifetime}, &route_, 1, 3, &stats_, &observer_};
};

TEST_F(SessionRotateTest, TheSessionKeepsItsStateUnderANewIdAndTheOldIdIsRetired) {
  SessionId old_sid = serve("/")->created_sid;
  serve("/", &old_sid);
  auto r = serve("/rotate", &old_sid);
  ASSERT_TRUE(r->rotated);
  EXPECT_FALSE(r->created);
  EXPECT_FALSE(r->ended);
  const SessionId new_sid = r->rotated_sid;
  EXPECT_NE(new_sid, old_sid);
  EXPECT_EQ(SessionIdHash{}(new_sid) % 3, 1u);  // the same shard: the pool finds it on the same thread
  EXPECT_FALSE(host_.contains(old_sid));
  EXPECT_TRUE(host_.contains(new_sid));
  EXPECT_EQ(host_.size(), 1u);
  EXPECT_EQ(stats_.live, 1);
  EXPECT_EQ(stats_.rotated, 1u);
  ASSERT_EQ(observer_.rotated.size(), 1u);
  EXPECT_EQ(observer_.rotated[0].first, old_sid);
  EXPECT_EQ(observer_.rotated[0].second, new_sid);
  EXPECT_TRUE(observer_.ended.empty());  // not an end: on_end never ran
  EXPECT_TRUE(logs_[0].ends.empty());

  auto next = serve("/", &new_sid);  // the same object, its count goes on
  EXPECT_FALSE(next->created);
  EXPECT_EQ(next->response.body, "4 1");
  EXPECT_FALSE(next->rotated);
  ASSERT_EQ(logs_[0].ids.size(), 4u);
  EXPECT_NE(logs_[0].ids[3], logs_[0].ids[0]);  // short_id() tells the new id

  auto stale = serve("/", &old_sid);  // the old cookie: a new session, reason expired
  ASSERT_TRUE(stale->created);
  EXPECT_NE(stale->created_sid, old_sid);
  EXPECT_NE(stale->created_sid, new_sid);
  EXPECT_EQ(stale->response.body, "1 1");
  ASSERT_EQ(logs_.size(), 2u);
  EXPECT_EQ(logs_[1].starts, std::vector<StartReason>{StartReason::Expired});
}

TEST_F(SessionRotateTest, WithoutCreateIfMissingTheOldIdIsMissing) {
  SessionId old_sid = serve("/")->created_sid;
  serve("/rotate", &old_sid);
  auto j = job("/", &old_sid);
  j->create_if_missing = false;  // the route asks the registry first (it finds no move, then creates)
  host_.serve(*j);
  EXPECT_TRUE(j->missing);
  EXPECT_FALSE(j->created);
}

TEST_F(SessionRotateTest, RotatingOnTheFirstRequestGivesTheCookieTheNewId) {
  auto r = serve("/rotate");
  ASSERT_TRUE(r->created);
  ASSERT_TRUE(r->rotated);
  EXPECT_EQ(r->created_sid, r->rotated_sid);  // one cookie: the id that lives
  EXPECT_TRUE(host_.contains(r->rotated_sid));
  EXPECT_EQ(host_.size(), 1u);
}

TEST_F(SessionRotateTest, EndInTheSameRequestWins) {
  SessionId sid = serve("/")->created_sid;
  auto r = serve("/rotate-end", &sid);
  EXPECT_TRUE(r->ended);
  EXPECT_FALSE(r->rotated);
  EXPECT_EQ(host_.size(), 0u);
  EXPECT_EQ(logs_[0].ends, std::vector<EndReason>{EndReason::App});
  EXPECT_EQ(stats_.rotated, 0u);
}

TEST_F(SessionRotateTest, AMovedSessionStartsEpochOneUnderItsNewId) {
  SessionId sid = serve("/")->created_sid;
  auto j = job("/rotate", &sid);
  j->epoch = 3;  // taken over twice before
  host_.serve(*j);
  EXPECT_EQ(j->response.body, "2 3");
  ASSERT_TRUE(j->rotated);
  SessionId new_sid = j->rotated_sid;
  auto k = serve("/", &new_sid);  // the registry holds the new id at epoch 1
  EXPECT_EQ(k->response.body, "3 1");
}

TEST_F(SessionRotateTest, TimersFollowTheNewIdAndEndItOnce) {
  SessionId sid = serve("/")->created_sid;
  clock_.advance(kIdle / 2);
  SessionId new_sid = serve("/rotate", &sid)->rotated_sid;
  clock_.advance(kIdle / 2);  // the old id's first deadline: nothing ends
  EXPECT_EQ(host_.sweep(), 0u);
  EXPECT_TRUE(host_.contains(new_sid));
  clock_.advance(kIdle / 2);
  EXPECT_EQ(host_.sweep(), 1u);
  EXPECT_FALSE(host_.contains(new_sid));
  EXPECT_EQ(logs_[0].ends, std::vector<EndReason>{EndReason::Idle});
  ASSERT_EQ(observer_.ended.size(), 1u);
  EXPECT_EQ(observer_.ended[0], new_sid);
  EXPECT_EQ(host_.next_deadline(), INT64_MAX);
}

TEST_F(SessionRotateTest, AnObserverWithoutRotationHearsACreateAndAnEnd) {
  Plain plain;
  SessionHost host(clock_, {kIdle, kLifetime}, &route_, 0, 1, &stats_, &plain);
  SessionJob first;
  first.factory = &factory_;
  first.sid = host.new_id();
  host.serve(first);
  SessionJob rot;
  rot.factory = &factory_;
  rot.existing = true;
  rot.sid = first.created_sid;
  rot.request.path = "/rotate";
  host.serve(rot);
  ASSERT_TRUE(rot.rotated);
  ASSERT_EQ(plain.created.size(), 2u);
  EXPECT_EQ(plain.created[1], rot.rotated_sid);
  ASSERT_EQ(plain.ended.size(), 1u);
  EXPECT_EQ(plain.ended[0], first.created_sid);
}

// Through the pool: the job for the old id and the one for the new id both
// land on the shard that holds the session; many rotations in a row keep one
// session, always findable under its latest id only.
TEST_F(SessionRotateTest, ThePoolFindsTheSessionUnderItsLatestIdOnly) {
  SessionPool pool(clock_, {kIdle * 1000, kLifetime * 1000}, "h1-0", 4, nullptr, true);
  pool.start();
  auto run = [&](const std::string& path, const SessionId* sid) {
    auto j = std::make_shared<SessionJob>();
    j->request.path = path;
    j->factory = &factory_;
    j->existing = sid != nullptr;
    j->sid = sid ? *sid : SessionId::random();
    EXPECT_EQ(pool.run(j), Posted::Ok);
    j->wait();
    return j;
  };
  SessionId sid = run("/", nullptr)->created_sid;
  std::vector<SessionId> old;
  for (int i = 0; i < 20; ++i) {
    auto r = run("/rotate", &sid);
    ASSERT_TRUE(r->rotated);
    EXPECT_EQ(pool.shard_of(r->rotated_sid), pool.shard_of(sid));
    old.push_back(sid);
    sid = r->rotated_sid;
  }
  auto live = pool.snapshot();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].first, sid);
  EXPECT_EQ(run("/", &sid)->response.body, "22 1");
  EXPECT_FALSE(pool.kill(old.back()));
  EXPECT_TRUE(pool.kill(sid));
  pool.stop();
}

}  // namespace
}  // namespace tether
