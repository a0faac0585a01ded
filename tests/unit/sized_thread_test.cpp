// SizedThread: the stack it asks for is the stack the thread gets, and the
// work runs exactly once before join() returns.
#include "common/sized_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <regex>
#include <string>

#include "fcgi/server.h"
#include "http/router.h"

namespace tether {
namespace {

size_t own_stack_size() {
  pthread_attr_t attr;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
  pthread_attr_getstacksize(&attr, &size);
  pthread_attr_destroy(&attr);
  return size;
}

TEST(SizedThreadTest, RunsOnceOnAStackOfTheAskedSize) {
  std::atomic<int> runs{0};
  size_t seen = 0;
  SizedThread t(fcgi::kAcceptorStackBytes, [&] {
    runs++;
    seen = own_stack_size();
  });
  ASSERT_TRUE(t.joinable());
  t.join();
  EXPECT_FALSE(t.joinable());
  EXPECT_EQ(runs.load(), 1);
  EXPECT_GE(seen, fcgi::kAcceptorStackBytes);
}

TEST(SizedThreadTest, AnAcceptorStackHoldsARegexOverTheLongestPath) {
  // What an acceptor thread does with the longest path it lets through.
  std::string path = "/static/" + std::string(kMaxPathBytes - 8, 'a');
  bool matched = false;
  SizedThread t(fcgi::kAcceptorStackBytes, [&] { matched = std::regex_search(path, std::regex("^/static/(.*)$")); });
  t.join();
  EXPECT_TRUE(matched);
}

TEST(SizedThreadTest, MovesKeepOneOwner) {
  std::atomic<int> runs{0};
  SizedThread a(1 << 20, [&] { runs++; });
  SizedThread b(std::move(a));
  EXPECT_FALSE(a.joinable());
  ASSERT_TRUE(b.joinable());
  b.join();
  EXPECT_EQ(runs.load(), 1);
}

}  // namespace
}  // namespace tether
