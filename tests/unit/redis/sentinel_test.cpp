// Sentinel discovery's decisions (src/redis/sentinel.h) on hostile
// replies fed as raw RESP through hiredis' own reader, and the "redis"
// section's Sentinel and ACL fields (src/config). The failover itself, with
// real sentinels, is tests/integration/test_redis_failover.py.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "config/config.h"
#include "redis/redis.h"
#include "redis/sentinel.h"
#include "support/resp.h"

namespace tether {
namespace {

// One reply parsed from RESP bytes, as a node or sentinel would send it.
RedisReply resp(const std::string& bytes) { return test_support::parse_resp(bytes); }

TEST(SentinelTest, HostPortIsReadStrictly) {
  auto hp = parse_host_port("10.0.0.1:26379");
  ASSERT_TRUE(hp) << hp.message();
  EXPECT_EQ(hp->host, "10.0.0.1");
  EXPECT_EQ(hp->port, 26379);
  for (const char* bad : {"", "10.0.0.1", ":26379", "10.0.0.1:", "h:0", "h:65536", "h:12x", "h:-1", "h:000026379"}) {
    EXPECT_FALSE(parse_host_port(bad)) << bad;
  }
}

TEST(SentinelTest, TheMastersAddressIsDecoded) {
  auto hp = decode_master_addr(resp("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n").get());
  ASSERT_TRUE(hp) << hp.message();
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 6380);
}

TEST(SentinelTest, EveryOtherShapeIsRefusedWithAReason) {
  struct Case {
    const char* resp;
    const char* says;
  } cases[] = {
      {"*-1\r\n", "no such master"},                                // nil array: unknown master
      {"$-1\r\n", "no such master"},                                // nil
      {"-ERR unknown\r\n", "refused"},                              // an error reply
      {"*1\r\n$9\r\n127.0.0.1\r\n", "not [host, port]"},            // one element
      {"*3\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\n2\r\n", "not [host, port]"},
      {"*2\r\n:1\r\n:2\r\n", "not [host, port]"},                   // integers
      {"*2\r\n$0\r\n\r\n$4\r\n6380\r\n", "no usable host"},         // empty host
      {"*2\r\n$3\r\na b\r\n$4\r\n6380\r\n", "control"},             // a space
      {"*2\r\n$3\r\na\x01" "b\r\n$4\r\n6380\r\n", "control"},       // a control byte
      {"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n99999\r\n", "port"},         // out of range
      {"*2\r\n$9\r\n127.0.0.1\r\n$3\r\nabc\r\n", "port"},
      {":5\r\n", "not [host, port]"},
  };
  for (const auto& c : cases) {
    RedisReply r = resp(c.resp);
    auto hp = decode_master_addr(r.get());
    ASSERT_FALSE(hp) << c.resp;
    EXPECT_NE(hp.message().find(c.says), std::string::npos) << c.resp << " -> " << hp.message();
  }
  EXPECT_FALSE(decode_master_addr(nullptr));
}

TEST(SentinelTest, OnlyANodeThatSaysMasterIsKept) {
  EXPECT_TRUE(reply_says_master(resp("*3\r\n$6\r\nmaster\r\n:100\r\n*0\r\n").get()));
  EXPECT_FALSE(reply_says_master(resp("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6380\r\n$9\r\nconnected\r\n:1\r\n").get()));
  EXPECT_FALSE(reply_says_master(resp("*2\r\n$8\r\nsentinel\r\n*0\r\n").get()));
  EXPECT_FALSE(reply_says_master(resp("*0\r\n").get()));
  EXPECT_FALSE(reply_says_master(resp("$6\r\nmaster\r\n").get()));
  EXPECT_FALSE(reply_says_master(resp("-NOPERM no\r\n").get()));
  EXPECT_FALSE(reply_says_master(nullptr));
}

TEST(SentinelTest, NoSentinelAnsweringIsAnErrorNamingEach) {
  RedisOptions o;
  o.sentinels = {"127.0.0.1:1", "127.0.0.1:2"};  // nothing listens on ports 1 and 2
  o.master = "tether";
  o.connect_timeout_ms = 200;
  Redis r(o);
  Status s = r.connect();
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("no sentinel named a reachable master 'tether'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("127.0.0.1:1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("127.0.0.1:2"), std::string::npos) << s.message();
}

const std::string kPath = "/etc/tether/tether.json";
std::string with_redis(const std::string& redis) {
  return R"({"listen":"unix:/tmp/x/w{worker}.sock","key_file":"k","redis":)" + redis + "}";
}

TEST(SentinelTest, TheRedisSectionReadsSentinelsAndAclUsers) {
  auto c = parse_config(with_redis(R"({"sentinels":["10.0.0.1:26379","10.0.0.2:26379"],"master":"tether",
      "username":"tether","password":"pw","sentinel_username":"s","sentinel_password":"spw"})"),
                        kPath, {});
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->redis.sentinels, (std::vector<std::string>{"10.0.0.1:26379", "10.0.0.2:26379"}));
  EXPECT_EQ(c->redis.master, "tether");
  EXPECT_EQ(c->redis.username, "tether");
  EXPECT_EQ(c->redis.password, "pw");
  EXPECT_EQ(c->redis.sentinel_username, "s");
  EXPECT_EQ(c->redis.sentinel_password, "spw");
}

TEST(SentinelTest, TheRedisSectionRefusesHalfASentinelSetUp) {
  struct Case {
    const char* redis;
    const char* says;
  } cases[] = {
      {R"({"sentinels":["10.0.0.1:26379"]})", "needs 'master'"},
      {R"({"master":"tether"})", "needs 'sentinels'"},
      {R"({"sentinels":[],"master":"t"})", "expected a list"},
      {R"({"sentinels":"10.0.0.1:26379","master":"t"})", "expected a list"},
      {R"({"sentinels":[26379],"master":"t"})", "expected strings"},
      {R"({"sentinels":["10.0.0.1"],"master":"t"})", "host:port"},
      {R"({"sentinels":["10.0.0.1:26379"],"master":"t","host":"10.0.0.9"})", "not both"},
      {R"({"username":"tether"})", "needs 'password'"},
  };
  for (const auto& c : cases) {
    auto r = parse_config(with_redis(c.redis), kPath, {});
    ASSERT_FALSE(r) << c.redis;
    EXPECT_NE(r.message().find(c.says), std::string::npos) << c.redis << " -> " << r.message();
  }
}

}  // namespace
}  // namespace tether
