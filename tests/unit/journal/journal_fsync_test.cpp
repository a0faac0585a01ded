// Tests the journal under "fsync": "always" when fdatasync fails (issue 16):
// the append fails, the line is cut off the file, and the shipper never
// ships it, not even while the failing fdatasync is still running. The
// failure is injected through JournalOptions::fdatasync.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "journal/journal.h"
#include "journal/line.h"
#include "journal/reader.h"
#include "journal/shipper.h"
#include "support/journal_fixture.h"

namespace tether::journal {
namespace {

// An fdatasync that fails its nth call with EIO, after running before_fail.
struct FailingSync {
  int nth;
  std::function<void()> before_fail = [] {};
  std::atomic<int> calls{0};
  std::function<int(int)> hook() {
    return [this](int fd) {
      if (++calls != nth) return ::fdatasync(fd);
      before_fail();
      errno = EIO;
      return -1;
    };
  }
};

TEST_F(JournalTest, AFailedFsyncLeavesNoLineBehind) {
  FailingSync sync{3};
  opts_.fsync = Fsync::Always;
  opts_.fdatasync = sync.hook();
  auto j = open();
  ASSERT_TRUE(j->append("d", {{"i", 0}}));
  ASSERT_TRUE(j->append("d", {{"i", 1}}));
  uint64_t good = std::filesystem::file_size(opts_.dir + "/" + j->current_file());
  auto failed = j->append("d", {{"i", 2}});
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.message().find("fdatasync"), std::string::npos) << failed.message();
  EXPECT_TRUE(stats_.failed.load());
  EXPECT_FALSE(j->append("d", {{"i", 3}}));  // failed until the worker restarts
  EXPECT_EQ(j->committed().offset, good);
  j.reset();
  // What a reader finds after a restart: the two acknowledged lines, nothing more.
  EXPECT_EQ(std::filesystem::file_size(opts_.dir + "/" + files()[0]), good);
  JournalReader r(opts_.dir, {});
  Batch b = r.read(10);
  ASSERT_EQ(b.entries.size(), 2u);
  EXPECT_EQ(b.entries[1].fields["i"], 1);
  EXPECT_EQ(b.corrupt, 0u);
}

// The shipper must not ship a line between its write and its failed fsync:
// the fsync below waits (bounded) for the shipper to ship it before failing.
TEST_F(JournalTest, ALineWhoseFsyncFailedIsNeverShipped) {
  ASSERT_TRUE(redis_ok_);
  FailingSync sync{3, [this] {
                     for (int i = 0; i < 100 && stats_.shipped.load() < 3; ++i)
                       usleep(10000);  // 1 s: the shipper polls every 100 ms
                   }};
  opts_.fsync = Fsync::Always;
  opts_.fdatasync = sync.hook();
  auto j = open();
  Shipper s(*j, redis_options(), stats_);
  ASSERT_TRUE(s.start());
  ASSERT_TRUE(j->append("d", {{"i", 0}}));
  ASSERT_TRUE(j->append("d", {{"i", 1}}));
  ASSERT_TRUE(shipped(2));
  EXPECT_FALSE(j->append("d", {{"i", 2}}));  // the application would retry this one
  j->stop();
  s.stop(1000);
  EXPECT_EQ(stats_.shipped.load(), 2u);
  Redis r(redis_options());
  EXPECT_EQ(reply_integer(r.command({"ZCARD", prefix_ + "list:d"})->get()), 2);
}

}  // namespace
}  // namespace tether::journal
