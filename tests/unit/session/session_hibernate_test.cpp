// Tests SessionHost's hibernation (src/session/host_hibernate.cpp): least
// recently used first, never the session being served, a failed snapshot
// keeps the session in memory, a sink that cannot write defers, a wake
// restores the state and calls on_wake, a wake that cannot load ends the
// session (lost, counted), and timers, kills, drains and shutdown wake a
// hibernated session for its one on_end. The sink is a fake that keeps the
// newest record per session and loads it back; the Redis side is tested in
// tests/unit/registry/checkpoints_test.cpp and tests/integration/test_hibernation.py.
#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/json.h"
#include "session/host.h"
#include "session/pool.h"

namespace tether {
namespace {

struct FakeSink final : CheckpointSink {
  std::unordered_map<SessionId, CheckpointRecord, SessionIdHash> last;  // newest record per session
  std::vector<SessionId> ended;
  bool accept = true;
  LoadedCheckpoint::Kind mode = LoadedCheckpoint::Kind::Found;  // what load() answers
  int64_t at_shift = 0;  // added to a found record's at_ms (negative: an older record)
  int loads = 0;
  std::mutex mu;  // the pool's threads end their sessions at once on stop
  void checkpoint(CheckpointRecord r) override {
    std::lock_guard<std::mutex> lock(mu);
    SessionId sid = r.sid;
    last[sid] = std::move(r);
  }
  void checkpoint_ended(const SessionId& sid, int64_t) override {
    std::lock_guard<std::mutex> lock(mu);
    ended.push_back(sid);
    last.erase(sid);
  }
  bool accepting() const override { return accept; }
  LoadedCheckpoint load(const SessionId& sid, int64_t epoch, const std::string& app) override {
    std::lock_guard<std::mutex> lock(mu);
    ++loads;
    LoadedCheckpoint out;
    out.kind = mode;
    out.why = "the fake says so";
    if (mode != LoadedCheckpoint::Kind::Found) return out;
    auto it = last.find(sid);
    if (it == last.end() || it->second.epoch != epoch || it->second.app != app) {
      out.kind = LoadedCheckpoint::Kind::Missing;
      return out;
    }
    auto j = parse_json(it->second.state);
    if (!j) {
      out.kind = LoadedCheckpoint::Kind::Refused;
      return out;
    }
    out.state = *j;
    out.at_ms = it->second.at_ms + at_shift;
    return out;
  }
};

// What the sessions saw, by session (short id).
struct Seen {
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> calls;
  void add(const std::string& who, std::string what) {
    std::lock_guard<std::mutex> lock(mu);
    calls[who].push_back(std::move(what));
  }
};

// State: a counter. "/throw" makes snapshot() throw from then on.
class Counter final : public Session {
 public:
  explicit Counter(Seen* seen) : seen_(seen) {}
  void on_start(StartReason r) override { seen_->add(short_id(), std::string("start:") + to_string(r)); }
  void on_wake() override { seen_->add(short_id(), "wake"); }
  void on_end(EndReason r) override { seen_->add(short_id(), std::string("end:") + to_string(r)); }
  Response handle(const Request& req) override {
    ++n_;
    if (req.path == "/throw") broken_ = true;
    return Response::text(std::to_string(n_));
  }
  std::optional<nlohmann::json> snapshot() const override {
    if (broken_) throw std::runtime_error("snapshot failed on purpose");
    return nlohmann::json{{"n", n_}};
  }
  bool restore(const nlohmann::json& state) override {
    auto n = int_field(state, "n");
    if (!n) return false;
    n_ = static_cast<int>(*n);
    return true;
  }

 private:
  Seen* seen_;
  int n_ = 0;
  bool broken_ = false;
};

constexpr Millis kIdle = 60000;

class SessionHibernateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    CheckpointPlanMap m;
    m[&factory_] = CheckpointPlan{"counter", 100000};  // an interval no test reaches: only hibernation writes
    plans_.replace(std::move(m));
    host_.set_checkpoints(&sink_, &plans_);
    host_.set_max_live(2);
  }
  SessionJobPtr job(const std::string& path, const SessionId* existing) {
    auto j = std::make_shared<SessionJob>();
    j->request.method = "GET";
    j->request.path = path;
    j->factory = &factory_;
    j->existing = existing != nullptr;
    j->sid = existing ? *existing : host_.new_id();
    return j;
  }
  SessionId start() {
    clock_.advance(1);
    auto j = job("/", nullptr);
    host_.serve(*j);
    EXPECT_TRUE(j->created);
    return j->created_sid;
  }
  // Serves path on sid; the answer's body (the counter), or "" when a new session was made.
  std::string serve(const SessionId& sid, const std::string& path = "/") {
    clock_.advance(1);
    auto j = job(path, &sid);
    host_.serve(*j);
    last_ = j;
    return j->created ? "" : j->response.body;
  }
  std::vector<std::string>& calls(const SessionId& sid) { return seen_.calls[sid.hex().substr(0, 12)]; }

  Seen seen_;
  SessionFactory factory_ = [this] { return std::make_unique<Counter>(&seen_); };
  std::string route_ = "h1-0";
  ManualClock clock_;
  SessionStats stats_;
  FakeSink sink_;
  CheckpointPlans plans_{1 << 20};
  SessionHost host_{clock_, {kIdle, 10 * kIdle}, &route_, 0, 1, &stats_};
  SessionJobPtr last_;
};

TEST_F(SessionHibernateTest, TheLeastRecentlyUsedSessionHibernatesPastTheBudget) {
  SessionId a = start(), b = start();
  serve(a);  // a is used after b: b is the least recently used
  EXPECT_EQ(host_.size(), 2u);
  SessionId c = start();
  EXPECT_TRUE(host_.is_hibernated(b));
  EXPECT_TRUE(host_.contains(a));
  EXPECT_TRUE(host_.contains(c));
  EXPECT_EQ(host_.size(), 2u);
  EXPECT_EQ(stats_.live.load(), 2);
  EXPECT_EQ(stats_.hibernated.load(), 1);
  EXPECT_EQ(stats_.hibernations.load(), 1u);
  ASSERT_EQ(sink_.last.count(b), 1u);
  EXPECT_TRUE(sink_.last[b].keep);  // the writer never drops it
  EXPECT_EQ(sink_.last[b].app, "counter");
  size_t owned = 0;
  host_.for_each([&](const SessionId&, int64_t) { ++owned; });
  EXPECT_EQ(owned, 3u);  // the registry still sees all three as this worker's
}

TEST_F(SessionHibernateTest, TheSessionBeingServedIsNeverHibernated) {
  host_.set_max_live(1);
  SessionId a = start();
  SessionId b = start();  // b is being served: a goes
  EXPECT_TRUE(host_.is_hibernated(a));
  EXPECT_TRUE(host_.contains(b));
  EXPECT_EQ(serve(a), "2");  // woken and served: then b goes, never a
  EXPECT_TRUE(host_.contains(a));
  EXPECT_TRUE(host_.is_hibernated(b));
  EXPECT_EQ(host_.size(), 1u);
}

TEST_F(SessionHibernateTest, AWakeRestoresTheStateAndCallsOnWakeNotOnStart) {
  host_.set_max_live(1);
  SessionId a = start();
  serve(a);
  serve(a);  // n = 3
  SessionId b = start();
  ASSERT_TRUE(host_.is_hibernated(a));
  EXPECT_EQ(serve(a), "4");
  EXPECT_EQ(calls(a), (std::vector<std::string>{"start:new", "wake"}));
  EXPECT_EQ(stats_.woken.load(), 1u);
  EXPECT_EQ(stats_.hibernated.load(), 1);  // b now
  EXPECT_TRUE(host_.is_hibernated(b));
  EXPECT_EQ(sink_.loads, 1);
}

TEST_F(SessionHibernateTest, AFailedSnapshotKeepsTheSessionInMemory) {
  host_.set_max_live(1);
  SessionId a = start();
  serve(a, "/throw");
  SessionId b = start();
  EXPECT_TRUE(host_.contains(a));
  EXPECT_TRUE(host_.contains(b));
  EXPECT_EQ(stats_.hibernated.load(), 0);
  EXPECT_GE(stats_.checkpoints_skipped_failed.load(), 1u);
  EXPECT_EQ(sink_.last.count(a), 0u);
  SessionId c = start();  // a cannot go; b can
  EXPECT_TRUE(host_.contains(a));
  EXPECT_TRUE(host_.is_hibernated(b));
  EXPECT_TRUE(host_.contains(c));
}

TEST_F(SessionHibernateTest, SessionsThatCannotSnapshotCostAFewTriesPerRequestNotAll) {
  host_.set_max_live(1);
  for (int i = 0; i < 20; ++i) serve(start(), "/throw");
  uint64_t before = stats_.checkpoints_skipped_failed.load();
  start();
  EXPECT_LE(stats_.checkpoints_skipped_failed.load() - before, 4u);
  EXPECT_EQ(host_.size(), 21u);
}

TEST_F(SessionHibernateTest, ASinkThatCannotWriteDefersHibernation) {
  host_.set_max_live(1);
  sink_.accept = false;
  SessionId a = start();
  SessionId b = start();
  EXPECT_TRUE(host_.contains(a));
  EXPECT_TRUE(host_.contains(b));
  EXPECT_EQ(stats_.hibernate_deferred.load(), 1u);
  EXPECT_TRUE(sink_.last.empty());
  EXPECT_LE(host_.next_deadline(), clock_.now_ms() + 100);  // tried again soon, with or without requests
  sink_.accept = true;
  clock_.advance(100);
  host_.sweep();
  EXPECT_TRUE(host_.is_hibernated(a));
  EXPECT_EQ(host_.size(), 1u);
}

TEST_F(SessionHibernateTest, AWakeThatFindsNoRecordGivesANewSessionLost) {
  host_.set_max_live(1);
  SessionId a = start();
  start();
  sink_.mode = LoadedCheckpoint::Kind::Missing;
  EXPECT_EQ(serve(a), "");  // a new session
  ASSERT_TRUE(last_->created);
  EXPECT_NE(last_->created_sid, a);
  EXPECT_EQ(calls(last_->created_sid), (std::vector<std::string>{"start:lost"}));
  EXPECT_EQ(calls(a), (std::vector<std::string>{"start:new"}));  // no on_end: it could not be rebuilt
  EXPECT_FALSE(host_.is_hibernated(a));
  EXPECT_EQ(stats_.wake_failed.load(), 1u);
  EXPECT_EQ(std::count(sink_.ended.begin(), sink_.ended.end(), a), 1);  // its record is deleted
}

TEST_F(SessionHibernateTest, AWakeThatFailsGivesANewSessionLostEvenWithoutCreateIfMissing) {
  host_.set_max_live(1);
  SessionId a = start();
  start();
  sink_.mode = LoadedCheckpoint::Kind::Refused;
  clock_.advance(1);
  auto j = job("/", &a);
  j->create_if_missing = false;  // the session route's first try: it would look for the owner elsewhere
  host_.serve(*j);
  EXPECT_FALSE(j->missing);  // it was ours: not to be looked for elsewhere
  ASSERT_TRUE(j->created);
  EXPECT_EQ(calls(j->created_sid), (std::vector<std::string>{"start:lost"}));
}

TEST_F(SessionHibernateTest, ARecordOlderThanHibernationWroteIsNeverRestored) {
  host_.set_max_live(1);
  SessionId a = start();
  start();
  sink_.at_shift = -1;  // Redis holds an earlier checkpoint: the hibernation write was lost
  EXPECT_EQ(serve(a), "");
  EXPECT_EQ(calls(last_->created_sid), (std::vector<std::string>{"start:lost"}));
  EXPECT_EQ(stats_.wake_failed.load(), 1u);
  EXPECT_EQ(stats_.woken.load(), 0u);
}

TEST_F(SessionHibernateTest, RedisUnreachableAnswers503AndKeepsTheSessionHibernated) {
  host_.set_max_live(1);
  SessionId a = start();
  start();
  sink_.mode = LoadedCheckpoint::Kind::Unavailable;
  serve(a);
  EXPECT_EQ(last_->response.status, 503);
  EXPECT_FALSE(last_->created);
  EXPECT_TRUE(host_.is_hibernated(a));
  sink_.mode = LoadedCheckpoint::Kind::Found;
  clock_.advance(1000);  // past the pause after an unreachable Redis
  EXPECT_EQ(serve(a), "2");
}

TEST_F(SessionHibernateTest, WithRedisUnreachableShutdownTriesOneLoadNotOneEach) {
  host_.set_max_live(1);
  SessionId a = start(), b = start();
  start();
  sink_.mode = LoadedCheckpoint::Kind::Unavailable;
  host_.end_all(EndReason::Shutdown);
  EXPECT_EQ(sink_.loads, 1);
  EXPECT_EQ(calls(a), (std::vector<std::string>{"start:new"}));  // ended without on_end: counted
  EXPECT_EQ(calls(b), (std::vector<std::string>{"start:new"}));
  EXPECT_EQ(stats_.wake_failed.load(), 2u);
  EXPECT_EQ(stats_.ended_shutdown.load(), 3u);
  EXPECT_EQ(stats_.hibernated.load(), 0);
}

TEST_F(SessionHibernateTest, AfterRedisWasUnreachableLoadsPauseForASecond) {
  host_.set_max_live(1);
  SessionId a = start();
  start();
  sink_.mode = LoadedCheckpoint::Kind::Unavailable;
  serve(a);
  EXPECT_EQ(last_->response.status, 503);
  sink_.mode = LoadedCheckpoint::Kind::Found;
  serve(a);
  EXPECT_EQ(last_->response.status, 503);  // paused: not tried
  EXPECT_EQ(sink_.loads, 1);
  clock_.advance(1000);
  EXPECT_EQ(serve(a), "2");
}

TEST_F(SessionHibernateTest, IdleTimeoutWakesAHibernatedSessionForOneOnEnd) {
  host_.set_max_live(1);
  SessionId a = start();
  SessionId b = start();
  ASSERT_TRUE(host_.is_hibernated(a));
  EXPECT_LE(host_.next_deadline(), clock_.now_ms() + kIdle);
  clock_.advance(kIdle);
  host_.sweep();
  EXPECT_EQ(calls(a), (std::vector<std::string>{"start:new", "wake", "end:idle"}));
  EXPECT_EQ(calls(b), (std::vector<std::string>{"start:new", "end:idle"}));
  EXPECT_EQ(stats_.ended_idle.load(), 2u);
  EXPECT_EQ(stats_.hibernated.load(), 0);
  EXPECT_EQ(stats_.live.load(), 0);
  EXPECT_EQ(host_.next_deadline(), INT64_MAX);
  EXPECT_EQ(std::count(sink_.ended.begin(), sink_.ended.end(), a), 1);
  host_.sweep();
  EXPECT_EQ(calls(a).size(), 3u);  // exactly once
}

TEST_F(SessionHibernateTest, AHibernatedSessionWhoseRecordIsGoneEndsWithoutOnEndAndIsCounted) {
  host_.set_max_live(1);
  SessionId a = start();
  start();
  sink_.mode = LoadedCheckpoint::Kind::Refused;
  clock_.advance(kIdle);
  host_.sweep();
  EXPECT_EQ(calls(a), (std::vector<std::string>{"start:new"}));
  EXPECT_EQ(stats_.wake_failed.load(), 1u);
  EXPECT_EQ(stats_.ended_idle.load(), 2u);
  EXPECT_EQ(stats_.hibernated.load(), 0);
}

TEST_F(SessionHibernateTest, AKillWakesAndEndsAHibernatedSession) {
  host_.set_max_live(1);
  SessionId a = start();
  start();
  EXPECT_TRUE(host_.kill(a));
  EXPECT_EQ(calls(a), (std::vector<std::string>{"start:new", "wake", "end:killed"}));
  EXPECT_EQ(stats_.ended_killed.load(), 1u);
  EXPECT_FALSE(host_.kill(a));
  EXPECT_EQ(serve(a), "");  // ended: a new session (expired)
}

TEST_F(SessionHibernateTest, ShutdownEndsHibernatedSessionsWithOnEnd) {
  host_.set_max_live(1);
  SessionId a = start(), b = start(), c = start();
  EXPECT_EQ(stats_.hibernated.load(), 2);
  host_.end_all(EndReason::Shutdown);
  for (const SessionId& s : {a, b}) {
    EXPECT_EQ(calls(s), (std::vector<std::string>{"start:new", "wake", "end:shutdown"}));
  }
  EXPECT_EQ(calls(c), (std::vector<std::string>{"start:new", "end:shutdown"}));
  EXPECT_EQ(stats_.ended_shutdown.load(), 3u);
  EXPECT_EQ(stats_.hibernated.load(), 0);
  EXPECT_EQ(stats_.live.load(), 0);
}

TEST_F(SessionHibernateTest, DrainWakesHibernatedSessionsAndHandsThemOver) {
  host_.set_max_live(1);
  SessionId a = start();
  serve(a);  // n = 2
  SessionId b = start();
  std::unordered_map<SessionId, int, SessionIdHash> sent;
  size_t moved = host_.hand_over([&](const SessionId& sid, const SessionFactory*, const nlohmann::json& env) {
    sent[sid] = static_cast<int>(int_field(*field(env, "state"), "n").value_or(-1));
    return std::string("h1-1");
  });
  EXPECT_EQ(moved, 2u);
  EXPECT_EQ(sent[a], 2);
  EXPECT_EQ(sent[b], 1);
  EXPECT_EQ(host_.size(), 0u);
  EXPECT_EQ(host_.hibernated(), 0u);
  EXPECT_EQ(stats_.moved_out.load(), 2u);
  serve(a);
  EXPECT_EQ(last_->moved_to, "h1-1");
}

TEST_F(SessionHibernateTest, AnAppWithoutAPlanNeverHibernatesButCountsInTheBudget) {
  host_.set_max_live(1);
  SessionFactory other = [this] { return std::make_unique<Counter>(&seen_); };
  auto j = job("/", nullptr);
  j->factory = &other;
  host_.serve(*j);
  SessionId plain = j->created_sid;
  SessionId a = start();  // over the budget; plain cannot go, a is being served
  EXPECT_TRUE(host_.contains(plain));
  EXPECT_TRUE(host_.contains(a));
  SessionId b = start();  // a goes
  EXPECT_TRUE(host_.is_hibernated(a));
  EXPECT_TRUE(host_.contains(plain));
  EXPECT_TRUE(host_.contains(b));
}

TEST_F(SessionHibernateTest, NoBudgetNoHibernation) {
  host_.set_max_live(0);
  for (int i = 0; i < 10; ++i) start();
  EXPECT_EQ(host_.size(), 10u);
  EXPECT_EQ(stats_.hibernated.load(), 0);
}

// The pool splits the worker's budget across its session threads exactly:
// the worker holds max_live_sessions in memory, not one more per thread.
TEST(SessionPoolHibernateTest, TheWorkerHoldsItsBudgetExactlyAcrossSessionThreads) {
  ASSERT_GE(sodium_init(), 0);
  Seen seen;
  SessionFactory factory = [&seen] { return std::make_unique<Counter>(&seen); };
  FakeSink sink;
  CheckpointPlans plans{1 << 20};
  CheckpointPlanMap m;
  m[&factory] = CheckpointPlan{"counter", 100000};
  plans.replace(std::move(m));
  SteadyClock clock;
  SessionPool pool{clock, {3600 * 1000, 7200 * 1000}, "h1-0", 4};
  pool.set_checkpoints(&sink, &plans);
  pool.set_max_live(5);  // 2 + 1 + 1 + 1
  pool.start();
  for (int i = 0; i < 200; ++i) {  // one at a time: the sink is not thread-safe, the jobs are in turn
    auto j = std::make_shared<SessionJob>();
    j->request.method = "GET";
    j->request.path = "/";
    j->factory = &factory;
    j->sid = SessionId::random();
    ASSERT_EQ(pool.run(j), Posted::Ok);
    j->wait();
    ASSERT_TRUE(j->created);
  }
  EXPECT_LE(pool.stats().live.load(), 5);
  EXPECT_EQ(pool.stats().live.load() + pool.stats().hibernated.load(), 200);
  EXPECT_EQ(pool.snapshot().size(), 200u);  // every one is still this worker's
  pool.stop();
  EXPECT_EQ(pool.stats().ended_shutdown.load(), 200u);
  EXPECT_EQ(pool.stats().hibernated.load(), 0);
}

}  // namespace
}  // namespace tether
