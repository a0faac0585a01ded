// Tests the hiredis wrapper (src/redis/redis) on real redis-servers: errors, pipelining, AUTH, SELECT, reconnects.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "support/redis_server.h"
#include "redis/redis.h"

namespace tether {
namespace {

using test_support::RedisServer;

class RedisTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    main_ = std::make_unique<RedisServer>();
    main_ok_ = main_->start();
    auth_ = std::make_unique<RedisServer>(std::vector<std::string>{"--requirepass", "secret"});
    auth_ok_ = auth_->start();
  }
  static void TearDownTestSuite() {
    main_.reset();
    auth_.reset();
  }
  void SetUp() override {
    ASSERT_TRUE(main_ok_) << "redis-server did not start";
    prefix_ = std::string("t:") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ":";
  }
  RedisOptions options(int port = main_->port()) const {
    RedisOptions o;
    o.port = port;
    o.prefix = prefix_;
    return o;
  }

  static inline std::unique_ptr<RedisServer> main_, auth_;
  static inline bool main_ok_ = false, auth_ok_ = false;
  std::string prefix_;
};

TEST_F(RedisTest, ErrorReplyIsAnErrorAndTheConnectionStaysUp) {
  Redis r(options());
  ASSERT_TRUE(r.command({"SET", r.key("s"), "not a number"}));
  auto bad = r.command({"INCR", r.key("s")});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("ERR"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("not an integer"), std::string::npos) << bad.message();
  EXPECT_TRUE(r.connected());
  auto unknown = r.command({"NO_SUCH_COMMAND"});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.message().find("unknown command"), std::string::npos) << unknown.message();
  auto ok = r.command({"GET", r.key("s")});
  ASSERT_TRUE(ok) << ok.message();
  EXPECT_EQ(reply_string(ok->get()), "not a number");
}

TEST_F(RedisTest, PipelinedRepliesComeBackInOrder) {
  Redis r(options());
  std::string n = r.key("n"), s = r.key("s");
  r.append({"SET", n, "1"});
  r.append({"INCR", n});
  r.append({"SET", s, "x"});
  r.append({"INCR", s});  // an error reply stays a reply
  r.append({"GET", n});
  r.append({"ECHO", std::string("bin\0ary", 7)});
  EXPECT_EQ(r.pending(), 6u);
  auto replies = r.flush();
  ASSERT_TRUE(replies) << replies.message();
  ASSERT_EQ(replies->size(), 6u);
  EXPECT_EQ(r.pending(), 0u);
  const auto& v = *replies;
  EXPECT_EQ(v[0]->type, REDIS_REPLY_STATUS);
  EXPECT_EQ(reply_string(v[0].get()), "OK");
  EXPECT_EQ(reply_integer(v[1].get()), 2);
  EXPECT_EQ(reply_string(v[2].get()), "OK");
  EXPECT_EQ(v[3]->type, REDIS_REPLY_ERROR);
  EXPECT_EQ(reply_string(v[4].get()), "2");
  EXPECT_EQ(reply_string(v[5].get()), std::string("bin\0ary", 7));
  auto empty = r.flush();  // nothing queued: no replies, no error
  ASSERT_TRUE(empty) << empty.message();
  EXPECT_TRUE(empty->empty());
}

TEST_F(RedisTest, ConnectToNothingNamesHostAndPort) {
  int port = test_support::free_port();
  ASSERT_GT(port, 0);
  Redis r(options(port));
  Status s = r.connect();
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("127.0.0.1:" + std::to_string(port)), std::string::npos) << s.message();
  EXPECT_FALSE(r.connected());
  auto c = r.command({"PING"});
  ASSERT_FALSE(c);
  EXPECT_NE(c.message().find("127.0.0.1:" + std::to_string(port)), std::string::npos) << c.message();
  r.append({"PING"});
  EXPECT_FALSE(r.flush());
}

TEST_F(RedisTest, PasswordIsSentOnConnectAndAWrongOneMentionsAuth) {
  ASSERT_TRUE(auth_ok_) << "redis-server with requirepass did not start";
  RedisOptions o = options(auth_->port());
  o.password = "secret";
  Redis good(o);
  auto pong = good.command({"PING"});
  ASSERT_TRUE(pong) << pong.message();
  EXPECT_EQ(reply_string(pong->get()), "PONG");

  o.password = "wrong";
  Redis bad(o);
  Status s = bad.connect();
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("AUTH"), std::string::npos) << s.message();
  EXPECT_FALSE(bad.connected());

  o.password.clear();
  Redis none(o);
  auto refused = none.command({"GET", "x"});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.message().find("NOAUTH"), std::string::npos) << refused.message();
}

TEST_F(RedisTest, SelectsTheConfiguredDatabase) {
  RedisOptions o = options();
  o.db = 3;
  Redis db3(o), db0(options());
  ASSERT_TRUE(db3.command({"SET", db3.key("k"), "three"}));
  auto in3 = db3.command({"GET", db3.key("k")});
  auto in0 = db0.command({"EXISTS", db0.key("k")});
  ASSERT_TRUE(in3) << in3.message();
  ASSERT_TRUE(in0) << in0.message();
  EXPECT_EQ(reply_string(in3->get()), "three");
  EXPECT_EQ(reply_integer(in0->get()), 0);
}

TEST_F(RedisTest, ReconnectsAfterTheServerRestarts) {
  RedisServer own;
  ASSERT_TRUE(own.start());
  Redis r(options(own.port()));
  ASSERT_TRUE(r.command({"SET", "k", "v"}));
  own.stop();
  auto down = r.command({"PING"});
  EXPECT_FALSE(down);  // nothing listens now
  ASSERT_TRUE(own.start());
  auto first = r.command({"PING"});  // may fail on a connection it has not noticed is dead
  auto second = r.command({"PING"});
  ASSERT_TRUE(second) << second.message() << " (first: " << first.message() << ")";
  EXPECT_EQ(reply_string(second->get()), "PONG");
  EXPECT_TRUE(r.connected());
}

TEST_F(RedisTest, ReconnectsAfterTheServerRestartsWhileConnected) {
  RedisServer own;
  ASSERT_TRUE(own.start());
  Redis r(options(own.port()));
  ASSERT_TRUE(r.command({"PING"}));
  own.stop();
  ASSERT_TRUE(own.start());  // back before the client noticed anything
  auto first = r.command({"PING"});
  auto second = r.command({"PING"});
  ASSERT_TRUE(second) << second.message() << " (first: " << first.message() << ")";
  EXPECT_EQ(reply_string(second->get()), "PONG");
}

TEST_F(RedisTest, WaitReplyDeliversAPublishedMessageOrNothing) {
  Redis sub(options()), pub(options());
  std::string channel = sub.key("chan");
  auto ack = sub.command({"SUBSCRIBE", channel});
  ASSERT_TRUE(ack) << ack.message();
  auto none = sub.wait_reply(50);
  ASSERT_TRUE(none) << none.message();
  EXPECT_EQ(none->get(), nullptr);
  auto n = pub.command({"PUBLISH", channel, "hello"});
  ASSERT_TRUE(n) << n.message();
  EXPECT_EQ(reply_integer(n->get()), 1);
  auto msg = sub.wait_reply(5000);
  ASSERT_TRUE(msg) << msg.message();
  ASSERT_NE(msg->get(), nullptr);
  ASSERT_EQ((*msg)->type, REDIS_REPLY_ARRAY);
  ASSERT_EQ((*msg)->elements, 3u);
  EXPECT_EQ(reply_string((*msg)->element[0]), "message");
  EXPECT_EQ(reply_string((*msg)->element[2]), "hello");
}

TEST_F(RedisTest, KeyPrefixesAndReplyHelpers) {
  Redis r(options());
  EXPECT_EQ(r.key("abc"), prefix_ + "abc");
  EXPECT_EQ(reply_string(nullptr), "");
  EXPECT_EQ(reply_integer(nullptr), 0);
  auto n = r.command({"ECHO", "42"});
  ASSERT_TRUE(n) << n.message();
  EXPECT_EQ(reply_integer(n->get()), 42);
}

}  // namespace
}  // namespace tether
