// Tests the cache's decoders of what it reads from Redis (src/cache/messages,
// docroot; issue 14): bus:log replies of every wrong shape, entries with
// wrong, missing, doubled or badly encoded fields, docroot paths and values.
// Replies are real hiredis replies, parsed from RESP text.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <filesystem>
#include <memory>

#include "cache/docroot.h"
#include "cache/messages.h"
#include "common/firewall.h"
#include "support/redis_server.h"
#include "support/resp.h"

namespace tether {
namespace {

using test_support::parse_resp;

std::string bulk(const std::string& s) { return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n"; }
std::string entry(const std::string& id, const std::vector<std::string>& kv) {
  std::string out = "*2\r\n" + bulk(id) + "*" + std::to_string(kv.size()) + "\r\n";
  for (const auto& s : kv) out += bulk(s);
  return out;
}

TEST(CacheDecodersTest, StreamIds) {
  EXPECT_TRUE(valid_stream_id("0-0"));
  EXPECT_TRUE(valid_stream_id("1700000000000-12"));
  for (const char* bad : {"", "-", "1-", "-1", "1", "a-1", "1-+2", "1--2", "99999999999999999999-0", "1-2 "}) {
    EXPECT_FALSE(valid_stream_id(bad)) << bad;
  }
}

TEST(CacheDecodersTest, XreadRepliesOfEveryShape) {
  auto none = decode_xread_reply(parse_resp("*-1\r\n").get());
  ASSERT_TRUE(none) << none.message();
  EXPECT_TRUE(none->empty());
  auto good = decode_xread_reply(parse_resp("*1\r\n*2\r\n" + bulk("tether:bus:log") + "*1\r\n" +
                                            entry("5-1", {"type", "invalidate", "groups", "g"}))
                                     .get());
  ASSERT_TRUE(good) << good.message();
  ASSERT_EQ(good->size(), 1u);
  EXPECT_EQ(good->at(0).id, "5-1");
  EXPECT_TRUE(good->at(0).error.empty());
  EXPECT_EQ(good->at(0).fields.size(), 2u);
  for (const std::string& bad : {std::string(":5\r\n"), std::string("+OK\r\n"), std::string("*1\r\n:1\r\n"),
                                 std::string("*2\r\n*-1\r\n*-1\r\n"), "*1\r\n*2\r\n" + bulk("k") + ":3\r\n",
                                 "*1\r\n*2\r\n" + bulk("k") + "*1\r\n" + entry("not-an-id", {"type", "x"}),
                                 "*1\r\n*2\r\n" + bulk("k") + "*1\r\n*1\r\n" + bulk("1-1"),
                                 "*1\r\n*2\r\n" + bulk("k") + "*1\r\n*2\r\n:7\r\n*0\r\n"}) {
    EXPECT_FALSE(decode_xread_reply(parse_resp(bad).get())) << bad;
  }
  EXPECT_TRUE(decode_xread_reply(nullptr));  // no reply: nothing new
}

TEST(CacheDecodersTest, AnEntryWhoseFieldsAreNotStringPairsKeepsItsIdAndAReason) {
  for (const std::string& fields :
       {std::string("*3\r\n") + bulk("a") + bulk("b") + bulk("c"), std::string("*2\r\n") + bulk("type") + ":1\r\n",
        std::string("*-1\r\n"), std::string(":4\r\n")}) {
    auto r = decode_stream_entries(parse_resp("*1\r\n*2\r\n" + bulk("9-9") + fields).get());
    ASSERT_TRUE(r) << r.message();
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ(r->at(0).id, "9-9");
    EXPECT_FALSE(r->at(0).error.empty()) << fields;
    EXPECT_TRUE(r->at(0).fields.empty());
  }
}

TEST(CacheDecodersTest, GoodEntriesDecodeToTypedValues) {
  auto inv =
      decode_bus_log_entry({{"type", "invalidate"}, {"regex", "^GET /x"}, {"groups", "a,b"}, {"origin", "h1-0:1"}});
  ASSERT_TRUE(inv) << inv.message();
  EXPECT_EQ(inv->kind, BusLogEntry::Kind::Invalidate);
  EXPECT_NE(inv->invalidation.regex, nullptr);
  EXPECT_EQ(inv->invalidation.groups, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(inv->origin, "h1-0:1");
  auto doc = decode_bus_log_entry({{"type", "docroot"}, {"path", "css/site.css"}});
  ASSERT_TRUE(doc) << doc.message();
  EXPECT_EQ(doc->kind, BusLogEntry::Kind::Docroot);
  EXPECT_EQ(doc->path, "css/site.css");
  auto other = decode_bus_log_entry({{"type", "journal.ship"}, {"anything", std::string("\xff\0", 2)}});
  ASSERT_TRUE(other) << other.message();
  EXPECT_EQ(other->kind, BusLogEntry::Kind::Other);  // another component's: ignored, not refused
}

TEST(CacheDecodersTest, WrongEntriesAreRefusedWithAReason) {
  const std::string deep = std::string(30000, '(') + "a" + std::string(30000, ')');
  const std::vector<std::pair<StreamFields, std::string>> cases = {
      {{}, "no type"},
      {{{"regex", "x"}}, "no type"},
      {{{"type", ""}}, "type"},
      {{{"type", "\xff"}}, "type"},
      {{{"type", "Invalidate!"}}, "type"},
      {{{"type", std::string(65, 'a')}}, "type"},
      {{{"type", "invalidate"}}, "nothing to invalidate"},
      {{{"type", "invalidate"}, {"regex", ""}}, "regex"},
      {{{"type", "invalidate"}, {"regex", "a"}, {"regex", "b"}}, "twice"},
      {{{"type", "invalidate"}, {"type", "docroot"}, {"path", "x"}}, "twice"},
      {{{"type", "invalidate"}, {"regex", std::string(95 * 1024, 'a')}}, "too long"},
      {{{"type", "invalidate"}, {"regex", deep}}, "too long"},
      {{{"type", "invalidate"}, {"regex", "[z-a]"}}, "not a valid regular expression"},
      {{{"type", "invalidate"}, {"regex", "(a)\\1"}}, "not a valid regular expression"},
      {{{"type", "invalidate"}, {"regex", "a{1000}{1000}"}}, "not a valid regular expression"},
      {{{"type", "invalidate"}, {"groups", ""}}, "empty group"},
      {{{"type", "invalidate"}, {"groups", ",,,"}}, "empty group"},
      {{{"type", "invalidate"}, {"groups", "a,,b"}}, "empty group"},
      {{{"type", "invalidate"}, {"groups", "\xff\xfe"}}, "UTF-8"},
      {{{"type", "invalidate"}, {"groups", std::string(300, 'g')}}, "UTF-8"},
      {{{"type", "invalidate"}, {"groups", "g"}, {"origin", ""}}, "origin"},
      {{{"type", "invalidate"}, {"groups", "g"}, {"origin", std::string(300, 'o')}}, "origin"},
      {{{"type", "invalidate"}, {"groups", "g"}, {"origin", "\xc0\x80"}}, "origin"},
      {{{"type", "docroot"}}, "no path"},
      {{{"type", "docroot"}, {"path", "../../etc/x"}}, "docroot path"},
      {{{"type", "docroot"}, {"path", "/etc/passwd"}}, "docroot path"},
      {{{"type", "docroot"}, {"path", "a/\xff.txt"}}, "not UTF-8"},
      {{{"type", "docroot"}, {"path", "a\nb"}}, "control"},
      {{{"type", "docroot"}, {"path", std::string("a\0b", 3)}}, "control"},
      {{{"type", "docroot"}, {"path", std::string(256, 'p')}}, "255"},
      {{{"type", "docroot"}, {"path", std::string(2000, 'p')}}, "1024"},
  };
  for (const auto& [fields, part] : cases) {
    auto r = decode_bus_log_entry(fields);
    ASSERT_FALSE(r) << part;
    EXPECT_NE(r.message().find(part), std::string::npos) << r.message().substr(0, 300);
    EXPECT_LT(r.message().size(), 600u);
  }
  StreamFields many = {{"type", "invalidate"}, {"groups", "g"}};
  for (int i = 0; i < 40; ++i) many.emplace_back("x" + std::to_string(i), "");
  EXPECT_FALSE(decode_bus_log_entry(many));
  std::string groups;
  for (int i = 0; i < 65; ++i) groups += (i ? "," : "") + std::to_string(i);
  EXPECT_FALSE(decode_bus_log_entry({{"type", "invalidate"}, {"groups", groups}}));
}

TEST(CacheDecodersTest, DocrootSyncSkipsRefusedKeysAndValuesAndWritesTheRest) {
  test_support::RedisServer server;
  ASSERT_TRUE(server.start());
  RedisOptions opts;
  opts.host = "127.0.0.1";
  opts.port = server.port();
  Redis redis(opts);
  ASSERT_TRUE(redis.connect());
  const std::string p = opts.prefix + "cache:docroot:";
  ASSERT_TRUE(redis.command({"SET", p + "good/a.txt", "A"}));
  ASSERT_TRUE(redis.command({"SET", p + "../escape.txt", "E"}));
  ASSERT_TRUE(redis.command({"SET", p + "bad\xff.txt", "B"}));
  ASSERT_TRUE(redis.command({"SET", p + "ctl\n.txt", "C"}));
  ASSERT_TRUE(redis.command({"HSET", p + "hash.txt", "f", "v"}));  // not a string
  auto root = std::filesystem::temp_directory_path() / ("docroot_sync_" + std::to_string(getpid()));
  std::filesystem::create_directories(root / "inner");
  uint64_t refused_before = firewall::refused_count("cache.bad_docroot");
  size_t skipped = 0;
  auto n = sync_docroot(redis, (root / "inner").string(), &skipped);
  ASSERT_TRUE(n) << n.message();
  EXPECT_EQ(n.value(), 1u);
  EXPECT_EQ(skipped, 4u);
  EXPECT_EQ(firewall::refused_count("cache.bad_docroot"), refused_before + 4);
  EXPECT_TRUE(std::filesystem::exists(root / "inner" / "good" / "a.txt"));
  EXPECT_FALSE(std::filesystem::exists(root / "escape.txt"));
  size_t files = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(root)) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
  EXPECT_FALSE(fetch_docroot_file(redis, (root / "inner").string(), "hash.txt"));
  EXPECT_FALSE(fetch_docroot_file(redis, (root / "inner").string(), "missing.txt"));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace tether
