// Tests SessionHost's checkpoints (src/session/host_checkpoint.cpp): a
// snapshot after a request at most once per interval, a timer for a change
// made within it, failures and too large snapshots skipped and counted, and
// the record's delete when the session ends. The sink is a fake that keeps
// what it was given.
#include <gtest/gtest.h>
#include <sodium.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "common/json.h"
#include "session/host.h"

namespace tether {
namespace {

struct FakeSink final : CheckpointSink {
  std::vector<CheckpointRecord> records;
  std::vector<std::pair<SessionId, int64_t>> ended;
  void checkpoint(CheckpointRecord r) override { records.push_back(std::move(r)); }
  void checkpoint_ended(const SessionId& sid, int64_t epoch) override { ended.emplace_back(sid, epoch); }
};

// State: a counter. "/throw-snapshot" makes snapshot() throw, "/big" makes it
// large, "/none" makes it give no state, "/end" ends the session.
class Counter final : public Session {
 public:
  Response handle(const Request& req) override {
    ++n_;
    mode_ = req.path;
    if (req.path == "/end") end();
    if (req.path == "/rotate") rotate_id();
    return Response::text(std::to_string(n_));
  }
  std::optional<nlohmann::json> snapshot() const override {
    if (mode_ == "/throw-snapshot") throw std::runtime_error("snapshot failed on purpose");
    if (mode_ == "/none") return std::nullopt;
    if (mode_ == "/big") return nlohmann::json{{"n", n_}, {"pad", std::string(4096, 'x')}};
    return nlohmann::json{{"n", n_}};
  }
  bool restore(const nlohmann::json&) override { return true; }

 private:
  int n_ = 0;
  std::string mode_;
};

constexpr Millis kEvery = 100;

class SessionCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    CheckpointPlanMap m;
    m[&factory_] = CheckpointPlan{"counter", kEvery};
    plans_.replace(std::move(m));
    host_.set_checkpoints(&sink_, &plans_);
  }
  SessionJobPtr job(const std::string& path, const SessionId* existing, const SessionFactory* f = nullptr) {
    auto j = std::make_shared<SessionJob>();
    j->request.method = "GET";
    j->request.path = path;
    j->factory = f ? f : &factory_;
    j->existing = existing != nullptr;
    j->sid = existing ? *existing : host_.new_id();
    return j;
  }
  SessionId start(const SessionFactory* f = nullptr) {
    auto j = job("/", nullptr, f);
    host_.serve(*j);
    EXPECT_TRUE(j->created);
    return j->created_sid;
  }
  void serve(const std::string& path, const SessionId& sid) {
    auto j = job(path, &sid);
    host_.serve(*j);
    EXPECT_EQ(j->response.status, 200) << path;
  }
  int state_n(size_t i) {
    auto j = parse_json(sink_.records.at(i).state);
    EXPECT_TRUE(j) << j.message();
    return j ? int_field(*j, "n").value_or(-1) : -1;
  }

  SessionFactory factory_ = [] { return std::make_unique<Counter>(); };
  SessionFactory other_ = [] { return std::make_unique<Counter>(); };  // an app without a plan
  std::string route_ = "h1-0";
  ManualClock clock_;
  SessionStats stats_;
  FakeSink sink_;
  CheckpointPlans plans_{1024};
  SessionHost host_{clock_, {60000, 600000}, &route_, 0, 1, &stats_};
};

TEST_F(SessionCheckpointTest, AnAppWithoutAPlanTakesNone) {
  SessionId sid = start(&other_);
  for (int i = 0; i < 5; ++i) {
    clock_.advance(kEvery);
    serve("/", sid);
    host_.sweep();
  }
  EXPECT_TRUE(sink_.records.empty());
  EXPECT_EQ(stats_.checkpoints_taken.load(), 0u);
}

TEST_F(SessionCheckpointTest, AtMostOncePerIntervalAndTheRecordCarriesTheSession) {
  SessionId sid = start();  // n = 1; the first checkpoint waits one interval
  EXPECT_TRUE(sink_.records.empty());
  clock_.advance(kEvery);
  serve("/", sid);  // n = 2: the interval has passed
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(state_n(0), 2);
  const CheckpointRecord& r = sink_.records[0];
  EXPECT_EQ(r.sid, sid);
  EXPECT_EQ(r.app, "counter");
  EXPECT_EQ(r.epoch, 1);
  EXPECT_GT(r.at_ms, 0);
  EXPECT_LE(r.created_ms, r.at_ms);
  for (int i = 0; i < 3; ++i) {
    clock_.advance(10);
    serve("/", sid);  // within the interval: none now
  }
  EXPECT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(stats_.checkpoints_taken.load(), 1u);
}

TEST_F(SessionCheckpointTest, AChangeWithinTheIntervalIsTakenByTheTimerWhenItEnds) {
  SessionId sid = start();
  EXPECT_EQ(host_.next_deadline(), clock_.now_ms() + kEvery);  // the timer for the first request's change
  clock_.advance(kEvery);
  host_.sweep();
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(state_n(0), 1);
  clock_.advance(10);
  serve("/", sid);  // n = 2, 10 ms after the last checkpoint
  EXPECT_EQ(sink_.records.size(), 1u);
  clock_.advance(kEvery - 20);
  host_.sweep();
  EXPECT_EQ(sink_.records.size(), 1u);  // not yet
  clock_.advance(10);
  host_.sweep();
  ASSERT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(state_n(1), 2);
  clock_.advance(10 * kEvery);
  host_.sweep();  // nothing changed since: nothing more
  EXPECT_EQ(sink_.records.size(), 2u);
}

TEST_F(SessionCheckpointTest, AThrowingSnapshotIsSkippedAndCountedAndTheSessionGoesOn) {
  SessionId sid = start();
  clock_.advance(kEvery);
  serve("/throw-snapshot", sid);
  EXPECT_TRUE(sink_.records.empty());
  EXPECT_EQ(stats_.checkpoints_skipped_failed.load(), 1u);
  clock_.advance(kEvery);
  serve("/none", sid);  // no state: skipped the same way
  EXPECT_EQ(stats_.checkpoints_skipped_failed.load(), 2u);
  clock_.advance(kEvery);
  serve("/", sid);  // the session is still here, and checkpoints again
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(state_n(0), 4);
  EXPECT_EQ(stats_.live.load(), 1);
}

TEST_F(SessionCheckpointTest, ASnapshotLargerThanTheBoundIsSkippedAndCounted) {
  SessionId sid = start();
  clock_.advance(kEvery);
  serve("/big", sid);  // > 1024 bytes (plans_)
  EXPECT_TRUE(sink_.records.empty());
  EXPECT_EQ(stats_.checkpoints_skipped_too_large.load(), 1u);
  clock_.advance(kEvery);
  serve("/", sid);
  EXPECT_EQ(sink_.records.size(), 1u);
}

TEST_F(SessionCheckpointTest, TheEndOfACheckpointedSessionDeletesItsRecord) {
  SessionId sid = start();
  SessionId never = start();  // ends before its first checkpoint: nothing to delete
  clock_.advance(kEvery);
  serve("/", sid);
  ASSERT_EQ(sink_.records.size(), 1u);
  serve("/end", sid);
  ASSERT_EQ(sink_.ended.size(), 1u);
  EXPECT_EQ(sink_.ended[0].first, sid);
  EXPECT_EQ(sink_.ended[0].second, 1);
  EXPECT_TRUE(host_.kill(never));
  EXPECT_EQ(sink_.ended.size(), 1u);
}

TEST_F(SessionCheckpointTest, IdleEndAndShutdownDeleteTheRecordToo) {
  SessionId a = start(), b = start();
  clock_.advance(kEvery);
  serve("/", a);
  serve("/", b);
  ASSERT_EQ(sink_.records.size(), 2u);
  clock_.advance(60000);  // idle timeout for both
  EXPECT_EQ(host_.sweep(), 2u);
  EXPECT_EQ(sink_.ended.size(), 2u);
  SessionId c = start();
  clock_.advance(kEvery);
  serve("/", c);
  host_.end_all(EndReason::Shutdown);
  EXPECT_EQ(sink_.ended.size(), 3u);
}

TEST_F(SessionCheckpointTest, ARotatedIdDeletesTheOldRecordAndWaitsAnIntervalForTheNew) {
  SessionId sid = start();
  clock_.advance(kEvery);
  serve("/", sid);
  ASSERT_EQ(sink_.records.size(), 1u);
  auto j = job("/rotate", &sid);
  host_.serve(*j);
  ASSERT_TRUE(j->rotated);
  ASSERT_EQ(sink_.ended.size(), 1u);
  EXPECT_EQ(sink_.ended[0].first, sid);  // the old id's record goes
  EXPECT_EQ(sink_.records.size(), 1u);   // the new id's entry is written first
  clock_.advance(kEvery);
  serve("/", j->rotated_sid);
  ASSERT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(sink_.records[1].sid, j->rotated_sid);
  EXPECT_EQ(state_n(1), 4);
}

TEST_F(SessionCheckpointTest, ASessionHandedOverDeletesNoRecord) {
  SessionId sid = start();
  clock_.advance(kEvery);
  serve("/", sid);
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(host_.hand_over([](const SessionId&, const SessionFactory*, const nlohmann::json&) {
    return std::string("unix:/elsewhere");
  }), 1u);
  EXPECT_TRUE(sink_.ended.empty());  // it goes on elsewhere: its new owner writes at the next epoch
  clock_.advance(10 * kEvery);
  host_.sweep();
  EXPECT_EQ(sink_.records.size(), 1u);
}

}  // namespace
}  // namespace tether
