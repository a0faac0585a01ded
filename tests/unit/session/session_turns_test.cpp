// Tests the turns of SessionPool::run (src/session/pool): a job for an idle
// shard runs on the calling thread; one that finds the shard busy waits
// behind the holder and runs on the shard's thread; a session's jobs never
// overlap, whoever runs them; timers of a
// session made inline still fire; "pinned" turns run every job on the
// shard's thread.
#include <gtest/gtest.h>
#include <sodium.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "session/pool.h"

namespace tether {
namespace {

struct Seen {
  std::atomic<int> inside{0};    // jobs of one session running now
  std::atomic<int> overlaps{0};  // times a job found another of its session running
  std::atomic<int> ended{0};
};

// Answers the id of the thread that ran it; blocks while `gate` is not ready
// on a request for "/block".
class Turned final : public Session {
 public:
  Turned(Seen* seen, std::shared_future<void> gate) : seen_(seen), gate_(std::move(gate)) {}
  Response handle(const Request& req) override {
    if (seen_->inside.fetch_add(1) != 0) seen_->overlaps++;
    if (req.path == "/block") gate_.wait();
    last_ = req.path;
    std::ostringstream id;
    id << std::this_thread::get_id();
    seen_->inside.fetch_sub(1);
    return Response::text(id.str());
  }
  void on_end(EndReason) override { seen_->ended++; }

 private:
  Seen* seen_;
  std::shared_future<void> gate_;
  std::string last_;
};

std::string this_thread_id() {
  std::ostringstream id;
  id << std::this_thread::get_id();
  return id.str();
}

class SessionTurnsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }
  void make_pool(bool run_inline, Millis idle_ms = 3600 * 1000) {
    pool_ = std::make_unique<SessionPool>(clock_, SessionTimeouts{idle_ms, 7200 * 1000, 60 * 1000}, "h1-0", 1, nullptr,
                                          run_inline);
    pool_->start();
  }
  void TearDown() override {
    gate_.set_value();
    if (pool_) pool_->stop();
  }
  SessionJobPtr job(const std::string& path, const SessionId& sid, bool existing) {
    auto j = std::make_shared<SessionJob>();
    j->request.method = "GET";
    j->request.path = path;
    j->factory = &factory_;
    j->sid = sid;
    j->existing = existing;
    j->create_if_missing = true;
    return j;
  }

  Seen seen_;
  std::promise<void> gate_;
  std::shared_future<void> gated_ = gate_.get_future().share();
  SessionFactory factory_ = [this] { return std::make_unique<Turned>(&seen_, gated_); };
  SteadyClock clock_;
  std::unique_ptr<SessionPool> pool_;
};

TEST_F(SessionTurnsTest, AJobForAnIdleShardRunsOnTheCallingThread) {
  make_pool(true);
  auto j = job("/a", SessionId::random(), false);
  ASSERT_EQ(pool_->run(j), Posted::Ok);
  ASSERT_TRUE(j->finished()) << "run() returns once an inline job is done";
  EXPECT_EQ(j->response.body, this_thread_id());
}

TEST_F(SessionTurnsTest, AJobThatFindsTheShardBusyWaitsBehindTheHolder) {
  make_pool(true);
  auto blocker = job("/block", SessionId::random(), false);
  auto holder = std::async(std::launch::async, [&] { return pool_->run(blocker); });  // takes the turn, blocks
  // Wait until the blocker holds the turn (it is inside its handler).
  for (int i = 0; i < 5000 && seen_.inside.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(seen_.inside.load(), 1);
  auto queued = job("/b", SessionId::random(), false);
  ASSERT_EQ(pool_->run(queued), Posted::Ok);
  EXPECT_FALSE(queued->finished()) << "it ran while another job held the shard's turn";
  gate_.set_value();
  ASSERT_EQ(holder.get(), Posted::Ok);
  ASSERT_TRUE(queued->wait_for(std::chrono::seconds(5)));
  EXPECT_NE(queued->response.body, this_thread_id()) << "a queued job runs on the shard's thread";
  EXPECT_EQ(seen_.overlaps.load(), 0);
  gate_ = std::promise<void>();  // TearDown sets it again
}

TEST_F(SessionTurnsTest, ManyThreadsRunningOneSessionNeverOverlap) {
  make_pool(true);
  auto first = job("/0", SessionId::random(), false);
  ASSERT_EQ(pool_->run(first), Posted::Ok);
  ASSERT_TRUE(first->wait_for(std::chrono::seconds(5)));
  SessionId sid = first->created_sid;
  constexpr int kPosters = 4, kJobs = 300;
  std::atomic<int> ok{0}, inline_runs{0};
  std::vector<std::thread> posters;
  for (int p = 0; p < kPosters; ++p) {
    posters.emplace_back([&, p] {
      for (int i = 0; i < kJobs; ++i) {
        auto j = job("/" + std::to_string(p) + "-" + std::to_string(i), sid, true);
        if (pool_->run(j) != Posted::Ok || !j->wait_for(std::chrono::seconds(10))) return;
        if (j->created || j->response.status != 200) return;
        if (j->response.body == this_thread_id()) inline_runs++;
        ok++;
      }
    });
  }
  for (auto& t : posters) t.join();
  EXPECT_EQ(ok.load(), kPosters * kJobs);
  EXPECT_EQ(seen_.overlaps.load(), 0) << "two jobs of one session ran at once";
  EXPECT_GT(inline_runs.load(), 0) << "no job ever ran on its poster's thread";
  EXPECT_EQ(pool_->stats().live.load(), 1u);
}

TEST_F(SessionTurnsTest, TheIdleTimerOfASessionMadeInlineStillFires) {
  make_pool(true, 200);  // idle_timeout 200 ms; the shard's thread sleeps with no timer before it
  auto j = job("/a", SessionId::random(), false);
  ASSERT_EQ(pool_->run(j), Posted::Ok);
  ASSERT_TRUE(j->created);
  for (int i = 0; i < 500 && seen_.ended.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(seen_.ended.load(), 1) << "the shard's thread never woke for the new session's idle timer";
  EXPECT_EQ(pool_->stats().live.load(), 0u);
}

TEST_F(SessionTurnsTest, PinnedTurnsRunEveryJobOnTheShardsThread) {
  make_pool(false);
  auto j = job("/a", SessionId::random(), false);
  ASSERT_EQ(pool_->run(j), Posted::Ok);
  ASSERT_TRUE(j->wait_for(std::chrono::seconds(5)));
  EXPECT_NE(j->response.body, this_thread_id());
}

}  // namespace
}  // namespace tether
