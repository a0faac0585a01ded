// Tests the journal's order on disk (issue 16): files are numbered by a
// sequence, so shipping order and the checkpoint never depend on the wall
// clock; files of the old, clock-named form are still read first.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "journal/files.h"
#include "journal/journal.h"
#include "journal/line.h"
#include "journal/shipper.h"
#include "support/journal_fixture.h"

namespace tether::journal {
namespace {

// Issue 16: files were named by the wall clock and the reader started at the
// checkpoint's file, so a run whose clock was behind the last one wrote a
// file that sorted before the checkpoint: never shipped, later deleted.
TEST_F(JournalTest, AClockBehindTheLastRunStillShipsInWritingOrder) {
  ASSERT_TRUE(redis_ok_);
  {
    auto j = open();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(j->append("d", {{"i", i}}));
    Shipper s(*j, redis_options(), stats_);
    ASSERT_TRUE(s.start());
    ASSERT_TRUE(shipped(3));
    s.stop(1000);
  }
  std::string first_file = files()[0];
  EXPECT_EQ(load_checkpoint(opts_.dir)->file, first_file);
  now_us_ -= 2 * kHourUs;  // restarted with the clock two hours behind
  JournalStats again;
  auto j = Journal::open(opts_, "h1-0", again);
  ASSERT_TRUE(j);
  for (int i = 3; i < 6; ++i) ASSERT_TRUE((*j)->append("d", {{"i", i}}));
  ASSERT_EQ(files().size(), 2u);
  EXPECT_EQ(files()[0], first_file);  // the new file sorts after the last run's, whatever its clock says
  EXPECT_EQ(files()[1], (*j)->current_file());
  Shipper s(**j, redis_options(), again);
  ASSERT_TRUE(s.start());
  for (int i = 0; i < 500 && again.shipped.load() < 3; ++i) usleep(10000);
  s.stop(1000);
  EXPECT_EQ(again.shipped.load(), 3u);
  EXPECT_EQ(again.pending.load(), 0);
  EXPECT_EQ(load_checkpoint(opts_.dir)->file, (*j)->current_file());
  Redis r(redis_options());
  EXPECT_EQ(reply_integer(r.command({"ZCARD", prefix_ + "list:d"})->get()), 6);
}

// Upgrade: files named by an older version (the wall clock, no sequence) are
// read first, from the checkpoint that names one of them, then the new ones.
TEST_F(JournalTest, OldNamedFilesShipBeforeSequencedOnes) {
  ASSERT_TRUE(redis_ok_);
  ASSERT_TRUE(make_dirs(opts_.dir));
  const std::string old = "20251122T220000-1763848800000000.jnl";  // an hour after this run's clock
  std::string first;
  {
    std::ofstream f(opts_.dir + "/" + old);
    for (uint64_t seq = 1; seq <= 2; ++seq) {
      Entry e;
      e.src = "h1-0.1763848800000000";
      e.seq = seq;
      e.domain = "d";
      std::string line = encode_line(e);
      if (seq == 1) first = line;
      f << line;
    }
  }
  ASSERT_TRUE(save_checkpoint(opts_.dir, {old, first.size()}));  // the old run shipped its first entry
  EXPECT_EQ(next_file_seq(opts_.dir), 1u);
  auto j = open();
  ASSERT_TRUE(j->append("d", {}));
  ASSERT_EQ(files(), (std::vector<std::string>{old, j->current_file()}));
  Shipper s(*j, redis_options(), stats_);
  ASSERT_TRUE(s.start());
  ASSERT_TRUE(shipped(2));
  s.stop(1000);
  Redis r(redis_options());
  auto m = r.command({"ZRANGE", prefix_ + "list:d", "0", "-1"});
  ASSERT_TRUE(m);
  ASSERT_EQ((*m)->elements, 2u);
  std::vector<std::string> ids;
  for (size_t k = 0; k < 2; ++k) {
    std::string v = reply_string((*m)->element[k]);
    ids.push_back(v.substr(v.rfind('|') + 1));
  }
  std::vector<std::string> want = {"h1-0.1763848800000000.2", j->source() + ".1"};
  std::sort(ids.begin(), ids.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids, want);
  EXPECT_EQ(load_checkpoint(opts_.dir)->file, j->current_file());
}

TEST_F(JournalTest, FileNamesCarryASequenceThatOnlyGoesUp) {
  EXPECT_EQ(file_name(7, 0, 5), "s0000000000000007-19700101T000000-5.jnl");
  EXPECT_EQ(file_seq("s0000000000000007-19700101T000000-5.jnl"), 7u);
  EXPECT_EQ(*file_period("s0000000000000007-19700101T003000-5.jnl"), 1800);
  EXPECT_EQ(file_seq("20251122T210000-1.jnl"), 0u);  // the old form: still a journal file
  EXPECT_TRUE(file_period("20251122T210000-1.jnl"));
  EXPECT_FALSE(file_period("sxyz0000000000007-19700101T000000-5.jnl"));
  EXPECT_FALSE(file_period("s0000000000000007-19700101T000000-5.txt"));
  EXPECT_LT(std::string("20991231T230000-9.jnl"), file_name(1, 0, 1));  // old names sort first
  EXPECT_LT(file_name(9, 4000000000, 1), file_name(10, 0, 1));          // then by sequence, not clock
  ASSERT_TRUE(make_dirs(opts_.dir));
  EXPECT_EQ(next_file_seq(opts_.dir), 1u);
  ASSERT_TRUE(save_checkpoint(opts_.dir, {file_name(41, 0, 1), 0}));  // its file deleted meanwhile
  EXPECT_EQ(next_file_seq(opts_.dir), 42u);
}

}  // namespace
}  // namespace tether::journal
