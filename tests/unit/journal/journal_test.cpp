// Tests the journal (src/journal): appends and rollover, the reader's skipping of
// corrupt lines, the checkpoint, file deletion, and shipping to a real redis-server
// (idempotent, ordered) and consuming with leases.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>

#include "journal/consumer.h"
#include "journal/files.h"
#include "journal/journal.h"
#include "journal/line.h"
#include "journal/reader.h"
#include "journal/shipper.h"
#include "support/journal_fixture.h"
#include "support/redis_server.h"

namespace tether::journal {
namespace {

namespace fs = std::filesystem;
using test_support::RedisServer;

TEST_F(JournalTest, AppendWritesOneCheckedLinePerEntry) {
  auto j = open();
  auto a = j->append("notes", {{"uri", "/n/1"}, {"priority", 3}, {"who", "ann"}});
  ASSERT_TRUE(a) << a.message();
  auto b = j->append("notes", {{"uri", "/n/2"}});
  ASSERT_TRUE(b);
  EXPECT_EQ(*a, j->source() + ".1");
  EXPECT_EQ(*b, j->source() + ".2");
  j->stop();
  std::ifstream f(opts_.dir + "/" + files()[0]);
  std::string l1, l2;
  ASSERT_TRUE(std::getline(f, l1) && std::getline(f, l2));
  auto e1 = decode_line(l1), e2 = decode_line(l2);
  ASSERT_TRUE(e1 && e2);
  EXPECT_EQ(e1->priority, 3);
  EXPECT_EQ(e1->fields, nlohmann::json({{"who", "ann"}}));
  EXPECT_EQ(e2->priority, 50);
  EXPECT_GT(e2->time_us, e1->time_us);  // strictly increasing even on a stopped clock
  EXPECT_EQ(e1->key_start_date, e1->time_us);
}

TEST_F(JournalTest, BadInputIsRefusedAndNothingWritten) {
  auto j = open();
  EXPECT_NE(j->append("no spaces", {}).message().find("domain"), std::string::npos);
  EXPECT_NE(j->append("d", {{"priority", 300}}).message().find("priority"), std::string::npos);
  EXPECT_NE(j->append("d", {{"uri", 5}}).message().find("uri"), std::string::npos);
  EXPECT_NE(j->append("d", nlohmann::json::array()).message().find("object"), std::string::npos);
  EXPECT_EQ(stats_.append_errors.load(), 4u);
  j->stop();
  EXPECT_EQ(fs::file_size(opts_.dir + "/" + files()[0]), 0u);
  EXPECT_FALSE(j->append("d", {}));  // stopped
}

TEST_F(JournalTest, RollsOverEachPeriodAndEachStart) {
  auto j = open();
  ASSERT_TRUE(j->append("d", {}));
  now_us_ += kHourUs;
  ASSERT_TRUE(j->append("d", {}));
  ASSERT_TRUE(j->append("d", {}));
  auto names = files();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].substr(0, 33), "s0000000000000001-20251122T210000");
  EXPECT_EQ(names[1].substr(0, 33), "s0000000000000002-20251122T220000");
  EXPECT_EQ(*file_period(names[1]) - *file_period(names[0]), 3600);
  j.reset();
  now_us_ += 1;
  auto again = open();  // a new source, so a new file even within the hour
  EXPECT_EQ(files().size(), 3u);
  EXPECT_EQ(file_seq(files()[2]), 3u);
  EXPECT_FALSE(Journal::open(opts_, "h1-0", stats_)) << "a second writer must be refused";
}

TEST_F(JournalTest, AlwaysFsyncsEveryAppend) {
  opts_.fsync = Fsync::Always;
  auto j = open();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(j->append("d", {}));
  EXPECT_EQ(stats_.fsyncs.load(), 3u);
}

TEST_F(JournalTest, CheckpointSurvivesAndADamagedOneIsAnError) {
  ASSERT_TRUE(make_dirs(opts_.dir));
  EXPECT_TRUE(load_checkpoint(opts_.dir)->file.empty());
  ASSERT_TRUE(save_checkpoint(opts_.dir, {"20251122T210000-1.jnl", 1234}));
  auto c = load_checkpoint(opts_.dir);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->file, "20251122T210000-1.jnl");
  EXPECT_EQ(c->offset, 1234u);
  std::ofstream(opts_.dir + "/checkpoint") << "{\"file\": 3";
  EXPECT_FALSE(load_checkpoint(opts_.dir));
}

TEST_F(JournalTest, ReaderSkipsCorruptLinesAndATornTail) {
  auto j = open();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(j->append("d", {{"i", i}}));
  j.reset();
  std::string first = opts_.dir + "/" + files()[0];
  {
    std::ofstream f(first, std::ios::app);
    f << "00000000 {\"src\":\"x\"}\n";                      // bad checksum, mid-file
    f << encode_line([] {
      Entry e;
      e.src = "h1-0.1";
      e.seq = 9;
      e.domain = "d";
      return e;
    }());
    f << "1234abcd {\"src\":\"torn";                        // a crash mid-write
  }
  now_us_ += 1;
  auto j2 = open();
  ASSERT_TRUE(j2->append("d", {{"i", 3}}));
  JournalReader r(opts_.dir, {});
  std::vector<int64_t> seen;
  uint64_t corrupt = 0;
  for (int round = 0; round < 10; ++round) {
    Batch b = r.read(2);
    for (auto& e : b.entries) seen.push_back(e.fields.value("i", -1));
    corrupt += b.corrupt;
    r.advance(b.end);
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, -1, 3}));
  EXPECT_EQ(corrupt, 2u);
}

TEST_F(JournalTest, ReaderTakesEntriesLargerThanItsReadChunk) {
  auto j = open();
  ASSERT_TRUE(j->append("d", {{"big", std::string(700000, 'x')}}));
  ASSERT_TRUE(j->append("d", {{"i", 1}}));
  EXPECT_FALSE(j->append("d", {{"big", std::string(kMaxLineBytes, 'x')}}));  // over 1 MiB: refused
  JournalReader r(opts_.dir, {});
  Batch b = r.read(10);
  ASSERT_EQ(b.entries.size(), 2u);
  EXPECT_EQ(b.entries[0].fields["big"].get<std::string>().size(), 700000u);
  EXPECT_EQ(b.corrupt, 0u);
  r.advance(b.end);
  EXPECT_EQ(r.count_lines(), 0u);
}

TEST_F(JournalTest, ShipsInOrderOnceAndMovesTheCheckpoint) {
  ASSERT_TRUE(redis_ok_);
  opts_.batch_max = 7;
  auto j = open();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(j->append("d", {{"uri", "/" + std::to_string(i)}, {"priority", i % 2}}));
  {
    Shipper s(*j, redis_options(), stats_);
    ASSERT_TRUE(s.start());
    ASSERT_TRUE(shipped(50));
    s.stop(1000);
  }
  EXPECT_EQ(stats_.pending.load(), 0);
  Redis r(redis_options());
  auto members = r.command({"ZRANGE", prefix_ + "list:d", "0", "-1"});
  ASSERT_TRUE(members);
  ASSERT_EQ((*members)->elements, 50u);
  // Priority 0 first (the even ones), then 1, each in append order.
  for (size_t k = 0; k < 50; ++k) {
    std::string m = reply_string((*members)->element[k]);
    int want = k < 25 ? static_cast<int>(2 * k) : static_cast<int>(2 * (k - 25) + 1);
    EXPECT_EQ(m.substr(m.rfind('.') + 1), std::to_string(want + 1)) << m;
  }
  auto cp = load_checkpoint(opts_.dir);
  EXPECT_EQ(cp->file, files().back());
  EXPECT_EQ(cp->offset, fs::file_size(opts_.dir + "/" + files().back()));
  // Sent again from scratch (a lost checkpoint): Redis stores nothing twice.
  fs::remove(opts_.dir + "/checkpoint");
  JournalStats again;
  Shipper s2(*j, redis_options(), again);
  ASSERT_TRUE(s2.start());
  for (int i = 0; i < 500 && again.shipped.load() < 50; ++i) usleep(10000);
  s2.stop(1000);
  EXPECT_EQ(again.shipped.load(), 50u);
  EXPECT_EQ(again.duplicates.load(), 50u);
  EXPECT_EQ(reply_integer(r.command({"ZCARD", prefix_ + "list:d"})->get()), 50);
  EXPECT_EQ(reply_integer(r.command({"HLEN", prefix_ + "list:d:entries"})->get()), 50);
}

TEST_F(JournalTest, DeletesOnlyShippedFilesOlderThanThePreviousPeriod) {
  ASSERT_TRUE(redis_ok_);
  auto j = open();
  for (int h = 0; h < 4; ++h) {
    ASSERT_TRUE(j->append("d", {{"h", h}}));
    now_us_ += kHourUs;
  }
  ASSERT_TRUE(j->append("d", {{"h", 4}}));  // current period: hour 4; previous: hour 3
  ASSERT_EQ(files().size(), 5u);
  Shipper s(*j, redis_options(), stats_);
  ASSERT_TRUE(s.start());
  ASSERT_TRUE(shipped(5));
  s.stop(1000);
  auto left = files();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(*file_period(left[1]) - *file_period(left[0]), 3600);
  EXPECT_EQ(stats_.files_deleted.load(), 3u);
}

TEST_F(JournalTest, RedisDownEntriesWaitThenArrive) {
  RedisServer other;
  RedisOptions o = redis_options();
  o.port = other.port();  // not started yet
  opts_.backoff_max_ms = 50;
  auto j = open();
  Shipper s(*j, o, stats_);
  ASSERT_TRUE(s.start());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(j->append("d", {{"i", i}}));
  // The shipper refreshes "pending" once per retry: it may have read only
  // the first entries when Redis first failed, so wait for the count.
  for (int i = 0; i < 300 && (stats_.outages.load() == 0 || stats_.pending.load() != 20); ++i) usleep(10000);
  EXPECT_EQ(stats_.outages.load(), 1u);
  EXPECT_EQ(stats_.pending.load(), 20);
  EXPECT_GT(stats_.oldest_unshipped_us.load(), 0);
  ASSERT_TRUE(other.start());
  ASSERT_TRUE(shipped(20));
  EXPECT_EQ(stats_.outages.load(), 1u);  // one outage, however many retries
  s.stop(1000);
  Redis r(o);
  EXPECT_EQ(reply_integer(r.command({"ZCARD", prefix_ + "list:d"})->get()), 20);
}

TEST_F(JournalTest, ConsumerTakesInOrderAndRemovesOnlyWhatSucceeded) {
  ASSERT_TRUE(redis_ok_);
  Redis r(redis_options());
  std::vector<Entry> batch;
  for (int i = 1; i <= 6; ++i) {
    Entry e;
    e.src = "s";
    e.seq = static_cast<uint64_t>(i);
    e.time_us = e.key_start_date = 1000 + i;
    e.domain = "c";
    e.priority = i <= 3 ? 9 : 1;
    batch.push_back(e);
  }
  ASSERT_EQ(*ship_batch(r, batch), 6);
  std::vector<uint64_t> order;
  Consumer c(r, "c", {.batch = 10, .lease_ms = 60000});
  auto round = c.run_once([&](const Entry& e) {
    order.push_back(e.seq);
    return e.seq != 2;  // the handler fails on seq 2
  });
  ASSERT_TRUE(round) << round.message();
  EXPECT_EQ(order, (std::vector<uint64_t>{4, 5, 6, 1, 2}));
  EXPECT_EQ(round->done, 4u);
  EXPECT_EQ(round->failed, 2u);  // 2 and 3 went back
  order.clear();
  ASSERT_TRUE(c.run_once([&](const Entry& e) { return order.push_back(e.seq), true; }));
  EXPECT_EQ(order, (std::vector<uint64_t>{2, 3}));
  auto f = list_figures(r, "c");
  EXPECT_EQ(f->waiting, 0);
  EXPECT_EQ(f->leased, 0);
  EXPECT_EQ(reply_integer(r.command({"HLEN", prefix_ + "list:c:entries"})->get()), 0);
}

TEST_F(JournalTest, ALeaseThatExpiresIsTakenAgain) {
  ASSERT_TRUE(redis_ok_);
  Redis r(redis_options());
  Entry e;
  e.src = "s";
  e.seq = 1;
  e.domain = "l";
  ASSERT_EQ(*ship_batch(r, {e}), 1);
  auto first = take(r, "l", 10, 100);  // a consumer that then dies
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ(take(r, "l", 10, 100)->size(), 0u);  // leased: nobody else gets it
  std::vector<Taken> again;
  for (int i = 0; i < 100 && again.empty(); ++i) {
    usleep(20000);
    again = *take(r, "l", 10, 60000);
  }
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].entry->id(), "s.1");
  ASSERT_TRUE(done(r, "l", again[0].member));
  EXPECT_EQ(list_figures(r, "l")->leased, 0);
}

}  // namespace
}  // namespace tether::journal
