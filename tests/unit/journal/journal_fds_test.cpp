// Tests that the journal closes every descriptor it opens (src/common/
// unique_fd.h at work): a refused second writer, rollovers, stop, the
// reader, the checkpoint and the listing; and that the directory lock goes
// with the journal.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "support/open_fds.h"
#include "journal/files.h"
#include "journal/journal.h"
#include "journal/reader.h"

namespace tether::journal {
namespace {

constexpr int64_t kHour = 3600LL * 1000000;

using test_support::open_fds;

class JournalFds : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tether-journal-fds-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    opts_.dir = dir_ + "/h1-0";
    opts_.fsync = Fsync::Always;  // the directory is fsynced on every new file
    opts_.now_us = [this] { return now_us_.load(); };
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<Journal> open() {
    auto j = Journal::open(opts_, "h1-0", stats_);
    EXPECT_TRUE(j) << j.message();
    return j ? std::move(*j) : nullptr;
  }

  std::string dir_;
  JournalOptions opts_;
  JournalStats stats_;
  std::atomic<int64_t> now_us_{1763845200000000};
};

TEST_F(JournalFds, ARefusedSecondWriterLeavesNoDescriptor) {
  auto j = open();
  ASSERT_TRUE(j);
  const int before = open_fds();
  for (int i = 0; i < 20; ++i) {
    auto again = Journal::open(opts_, "h1-0", stats_);
    ASSERT_FALSE(again);
    EXPECT_NE(again.message().find("in use by another process"), std::string::npos) << again.message();
  }
  EXPECT_EQ(open_fds(), before);
}

TEST_F(JournalFds, RolloversKeepOneFileOpenAndStopClosesIt) {
  const int before = open_fds();
  auto j = open();
  ASSERT_TRUE(j);
  ASSERT_TRUE(j->append("d", {}));
  const int one_file = open_fds();
  EXPECT_EQ(one_file, before + 2) << "the lock and the current file";
  for (int i = 0; i < 5; ++i) {
    now_us_ += kHour;
    ASSERT_TRUE(j->append("d", {}));
  }
  EXPECT_EQ(list_files(opts_.dir)->size(), 6u);
  EXPECT_EQ(open_fds(), one_file) << "each rollover closes the file before";
  j->stop();
  EXPECT_EQ(open_fds(), before + 1) << "stop closes the file; the lock stays until the journal goes";
  j.reset();
  EXPECT_EQ(open_fds(), before);
}

TEST_F(JournalFds, TheLockGoesWithTheJournal) {
  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_FALSE(Journal::open(opts_, "h1-0", stats_));
  j.reset();
  now_us_ += 1;
  EXPECT_TRUE(open()) << "the directory is free again";
}

TEST_F(JournalFds, ReadingListingAndCheckpointsLeaveNoDescriptor) {
  {
    auto j = open();
    ASSERT_TRUE(j);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(j->append("d", {{"i", i}}));
  }
  const int before = open_fds();
  for (int i = 0; i < 10; ++i) {
    JournalReader reader(opts_.dir, Checkpoint{});
    auto batch = reader.read(100, nullptr);
    EXPECT_EQ(batch.entries.size(), 3u);
    EXPECT_EQ(reader.count_lines(), 3u);
    ASSERT_TRUE(list_files(opts_.dir));
    ASSERT_TRUE(save_checkpoint(opts_.dir, batch.end));
    ASSERT_TRUE(load_checkpoint(opts_.dir));
    ASSERT_TRUE(fsync_dir(opts_.dir));
  }
  EXPECT_EQ(open_fds(), before);
  // The failing paths too: a missing directory.
  EXPECT_FALSE(list_files(dir_ + "/missing"));
  EXPECT_FALSE(fsync_dir(dir_ + "/missing"));
  EXPECT_FALSE(save_checkpoint(dir_ + "/missing", Checkpoint{"f", 1}));
  EXPECT_EQ(open_fds(), before);
}

}  // namespace
}  // namespace tether::journal
