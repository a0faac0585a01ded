// The typed reply reader (src/redis/reply.h) on replies of every shape,
// fed as raw RESP through hiredis' own reader: each read returns the value
// when the shape is right and an error value naming what came otherwise;
// nothing crashes, nothing defaults.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "redis/reply.h"
#include "support/resp.h"

namespace tether {
namespace {

RedisReply resp(const std::string& bytes) { return test_support::parse_resp(bytes); }

TEST(ReplyTest, StringsAreRead) {
  auto bulk = resp("$5\r\nhello\r\n");
  ReplyView v(bulk.get());
  ASSERT_TRUE(v.text());
  EXPECT_EQ(*v.text(), "hello");
  ASSERT_TRUE(v.bulk());
  EXPECT_EQ(v.text_view().value_or("?"), "hello");
  auto status = resp("+OK\r\n");
  EXPECT_EQ(*ReplyView(status.get()).text(), "OK");
  EXPECT_FALSE(ReplyView(status.get()).bulk()) << "a status is not a bulk string";
  auto binary = resp(std::string("$3\r\na\0b\r\n", 9));
  EXPECT_EQ(*ReplyView(binary.get()).bulk(), std::string("a\0b", 3));
}

TEST(ReplyTest, EveryOtherShapeIsRefusedWhereAStringIsNeeded) {
  for (const char* bytes : {"$-1\r\n", "*-1\r\n", ":7\r\n", "-ERR no\r\n", "*0\r\n", "*1\r\n$1\r\na\r\n"}) {
    auto r = resp(bytes);
    ReplyView v(r.get());
    auto t = v.text();
    EXPECT_FALSE(t) << bytes;
    EXPECT_NE(t.message().find("expected a string, got "), std::string::npos) << t.message();
    EXPECT_FALSE(v.bulk()) << bytes;
    EXPECT_FALSE(v.text_view()) << bytes;
  }
  EXPECT_FALSE(ReplyView().text());
  EXPECT_EQ(ReplyView().text().message(), "expected a string, got nothing");
  auto nil = resp("$-1\r\n");
  EXPECT_EQ(ReplyView(nil.get()).text().message(), "expected a string, got nil");
}

TEST(ReplyTest, IntegersAndNumbers) {
  auto i = resp(":-42\r\n");
  EXPECT_EQ(*ReplyView(i.get()).integer(), -42);
  EXPECT_EQ(*ReplyView(i.get()).number(), -42);
  auto s = resp("$13\r\n1700000000000\r\n");
  EXPECT_FALSE(ReplyView(s.get()).integer()) << "a string is not an integer reply";
  EXPECT_EQ(*ReplyView(s.get()).number(), 1700000000000LL);
  for (const char* bytes : {"$0\r\n\r\n", "$3\r\n12x\r\n", "$3\r\n1.5\r\n", "$2\r\n 1\r\n",
                            "$20\r\n99999999999999999999\r\n", "$-1\r\n", "+12\r\n", "*1\r\n:1\r\n", "-ERR x\r\n"}) {
    auto r = resp(bytes);
    EXPECT_FALSE(ReplyView(r.get()).number()) << bytes;
    EXPECT_FALSE(ReplyView(r.get()).integer()) << bytes;
  }
  EXPECT_FALSE(ReplyView().number());
}

TEST(ReplyTest, ArraysOfAGivenSize) {
  auto a = resp("*2\r\n$1\r\na\r\n:5\r\n");
  ReplyView v(a.get());
  EXPECT_TRUE(v.array(2));
  EXPECT_TRUE(v.array());
  EXPECT_TRUE(v.pairs());
  EXPECT_EQ(v.size(), 2u);
  EXPECT_EQ(*v[0].text(), "a");
  EXPECT_EQ(*v[1].integer(), 5);
  auto wrong = v.array(3);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.message(), "expected an array of 3, got an array of 2");
  auto odd = resp("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
  EXPECT_FALSE(ReplyView(odd.get()).pairs());
  for (const char* bytes : {"$1\r\na\r\n", "$-1\r\n", "*-1\r\n", ":2\r\n", "-ERR x\r\n", "+OK\r\n"}) {
    auto r = resp(bytes);
    ReplyView x(r.get());
    EXPECT_FALSE(x.array()) << bytes;
    EXPECT_FALSE(x.array(0)) << bytes;
    EXPECT_FALSE(x.pairs()) << bytes;
    EXPECT_EQ(x.size(), 0u) << bytes;
  }
}

TEST(ReplyTest, ElementsPastTheEndOrOfANonArrayAreNothingNotACrash) {
  auto a = resp("*1\r\n*1\r\n$1\r\nz\r\n");
  ReplyView v(a.get());
  EXPECT_TRUE(v[1].missing());
  EXPECT_TRUE(v[1000000].missing());
  EXPECT_TRUE(v[0][1].missing());
  EXPECT_EQ(*v[0][0].text(), "z");
  EXPECT_TRUE(v[0][0][0].missing()) << "a string has no elements";
  EXPECT_FALSE(v[5].text());
  EXPECT_FALSE(v[5][5].array());
  EXPECT_TRUE(ReplyView()[0].missing());
  EXPECT_TRUE(ReplyView()[0].is_nil());
}

TEST(ReplyTest, NilElementsAreNilNotStrings) {
  auto a = resp("*2\r\n$-1\r\n$1\r\nv\r\n");  // HMGET of an absent and a present field
  ReplyView v(a.get());
  EXPECT_TRUE(v[0].is_nil());
  EXPECT_FALSE(v[0].missing());
  EXPECT_FALSE(v[0].text());
  EXPECT_TRUE(v[1].is_bulk());
}

TEST(ReplyTest, StringsOfAnArrayRefuseTheWholeOnOneWrongElement) {
  auto good = resp("*2\r\n$1\r\na\r\n+b\r\n");
  auto s = ReplyView(good.get()).strings();
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(*s, (std::vector<std::string>{"a", "b"}));
  for (const char* bytes : {"*2\r\n$1\r\na\r\n$-1\r\n", "*2\r\n$1\r\na\r\n:1\r\n", "*1\r\n*0\r\n", "$1\r\na\r\n"}) {
    auto r = resp(bytes);
    EXPECT_FALSE(ReplyView(r.get()).strings()) << bytes;
  }
}

TEST(ReplyTest, ErrorsAreNotValues) {
  auto e = resp("-WRONGTYPE Operation against a key\r\n");
  ReplyView v(e.get());
  EXPECT_TRUE(v.is_error());
  EXPECT_EQ(v.error_text(), "WRONGTYPE Operation against a key");
  EXPECT_FALSE(v.text());
  EXPECT_FALSE(v.integer());
  EXPECT_FALSE(v.array());
  auto ok = resp("+OK\r\n");
  EXPECT_EQ(ReplyView(ok.get()).error_text(), "");
}

TEST(ReplyTest, ScanPagesAreDecodedOrRefused) {
  auto page = resp("*2\r\n$3\r\n170\r\n*2\r\n$2\r\nk1\r\n$2\r\nk2\r\n");
  auto p = decode_scan(ReplyView(page.get()));
  ASSERT_TRUE(p) << p.message();
  EXPECT_EQ(p->cursor, "170");
  EXPECT_EQ(p->keys, (std::vector<std::string>{"k1", "k2"}));
  for (const char* bytes : {"*1\r\n$1\r\n0\r\n", "*2\r\n$-1\r\n*0\r\n", "*2\r\n$1\r\n0\r\n$1\r\nk\r\n",
                            "*2\r\n$1\r\n0\r\n*1\r\n$-1\r\n", "*3\r\n$1\r\n0\r\n*0\r\n*0\r\n", ":0\r\n", "$-1\r\n"}) {
    auto r = resp(bytes);
    auto d = decode_scan(ReplyView(r.get()));
    EXPECT_FALSE(d) << bytes;
    EXPECT_EQ(d.message().rfind("SCAN: ", 0), 0u) << d.message();
  }
}

TEST(ReplyTest, APipelineMustAnswerEveryCommand) {
  std::vector<int> three(3);
  EXPECT_TRUE(expect_replies(three, 3));
  auto fewer = expect_replies(three, 4);
  ASSERT_FALSE(fewer);
  EXPECT_EQ(fewer.message(), "expected 4 replies to the pipeline, got 3");
}

}  // namespace
}  // namespace tether
