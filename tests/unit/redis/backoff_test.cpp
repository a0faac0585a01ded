// The one reconnect rhythm (src/redis/backoff.h): the wait doubles from
// 100 ms to its maximum and starts again after a success; an outage is
// reported once when it begins and once when it ends; sleep() stops early.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "redis/backoff.h"

namespace tether {
namespace {

TEST(BackoffTest, TheWaitDoublesToItsMaximumAndResets) {
  Backoff b;
  std::vector<int64_t> seen;
  for (int i = 0; i < 8; ++i) {
    seen.push_back(b.delay_ms());
    b.grow();
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{100, 200, 400, 800, 1600, 2000, 2000, 2000}));
  b.reset();
  EXPECT_EQ(b.delay_ms(), 100);
  Backoff shipper(500);  // journal.backoff_max_ms
  shipper.grow();
  shipper.grow();
  shipper.grow();
  EXPECT_EQ(shipper.delay_ms(), 500);
}

TEST(BackoffTest, AnOutageIsReportedOnceWhenItBeginsAndOnceWhenItEnds) {
  Backoff b;
  int logged_down = 0, logged_up = 0;
  EXPECT_FALSE(b.up(1000)) << "no outage yet: nothing to report";
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (b.down(1000 + attempt)) logged_down++;
    b.grow();
  }
  EXPECT_EQ(logged_down, 1);
  EXPECT_TRUE(b.is_down());
  EXPECT_EQ(b.delay_ms(), 2000);
  auto down_ms = b.up(4500);
  if (down_ms) logged_up++;
  ASSERT_TRUE(down_ms);
  EXPECT_EQ(*down_ms, 3500) << "from the first failure";
  EXPECT_FALSE(b.is_down());
  EXPECT_EQ(b.delay_ms(), 100) << "a success resets the wait";
  if (b.up(5000)) logged_up++;
  EXPECT_EQ(logged_up, 1);
  EXPECT_TRUE(b.down(6000)) << "a new outage is reported again";
}

TEST(BackoffTest, SleepWaitsTheDelayThenGrows) {
  Backoff b;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(b.sleep([] { return false; }));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(ms, 100);
  EXPECT_EQ(b.delay_ms(), 200);
}

TEST(BackoffTest, SleepStopsWithinASliceOfBeingAsked) {
  Backoff b(2000);
  for (int i = 0; i < 5; ++i) b.grow();  // 2000 ms
  std::atomic<bool> stop{false};
  std::thread asker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    stop = true;
  });
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(b.sleep([&] { return stop.load(); }));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  asker.join();
  EXPECT_LT(ms, 1000) << "a 2 s wait ended early";
  EXPECT_TRUE(b.sleep([] { return true; })) << "already stopping: no wait at all";
}

TEST(BackoffTest, WaitOnAConditionWakesWhenNotified) {
  Backoff b(2000);
  for (int i = 0; i < 5; ++i) b.grow();
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    cv.notify_all();
  });
  auto t0 = std::chrono::steady_clock::now();
  bool woken = false;
  {
    std::unique_lock lock(mu);
    woken = b.wait(cv, lock, [&] { return stopping; });
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  stopper.join();
  EXPECT_TRUE(woken);
  EXPECT_LT(ms, 1000);
  std::unique_lock lock(mu);
  EXPECT_TRUE(b.wait(cv, lock, [] { return true; }));
}

}  // namespace
}  // namespace tether
