// The journal unit tests' fixture: a journal directory in /tmp with a clock
// the test moves, and a private redis-server shared by the suite.
// Owned by the gtest thread.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "journal/files.h"
#include "journal/journal.h"
#include "support/redis_server.h"

namespace tether::journal {

constexpr int64_t kHourUs = 3600LL * 1000000;

class JournalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = std::make_unique<test_support::RedisServer>();
    redis_ok_ = redis_->start();
  }
  static void TearDownTestSuite() { redis_.reset(); }
  void SetUp() override {
    char tmpl[] = "/tmp/tether-journal-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    opts_.dir = dir_ + "/h1-0";
    opts_.fsync = Fsync::None;
    opts_.now_us = [this] { return now_us_.load(); };
    prefix_ = std::string("t:") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ":";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<Journal> open() {
    auto j = Journal::open(opts_, "h1-0", stats_);
    EXPECT_TRUE(j) << j.message();
    return j ? std::move(*j) : nullptr;
  }
  RedisOptions redis_options() const {
    RedisOptions o;
    o.port = redis_->port();
    o.prefix = prefix_;
    o.io_timeout_ms = 300;
    o.connect_timeout_ms = 100;
    return o;
  }
  std::vector<std::string> files() { return *list_files(opts_.dir); }
  // Waits (bounded) until the shipper acknowledged n entries.
  bool shipped(uint64_t n) {
    for (int i = 0; i < 500 && stats_.shipped.load() < n; ++i) usleep(10000);
    return stats_.shipped.load() >= n;
  }

  static inline std::unique_ptr<test_support::RedisServer> redis_;
  static inline bool redis_ok_ = false;
  std::string dir_, prefix_;
  JournalOptions opts_;
  JournalStats stats_;
  std::atomic<int64_t> now_us_{1763845200000000};  // 2025-11-22 21:00:00 UTC
};

}  // namespace tether::journal
