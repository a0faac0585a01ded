// Tests read_params (src/fcgi/exchange): the params bound (max_params_bytes)
// and what is read below it, on an FCGX_Request whose envp the test fills
// (read_params reads nothing else of it).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fcgi/exchange.h"

namespace tether::fcgi {
namespace {

// An FCGX_Request holding the given "NAME=value" params.
class Params {
 public:
  explicit Params(std::vector<std::string> kv) : kv_(std::move(kv)) {
    for (auto& s : kv_) envp_.push_back(s.data());
    envp_.push_back(nullptr);
    fr_.envp = envp_.data();
  }
  FCGX_Request& request() { return fr_; }

 private:
  std::vector<std::string> kv_;
  std::vector<char*> envp_;
  FCGX_Request fr_{};
};

TEST(FcgiExchangeTest, ParamsBytesCountsNamesValuesAndOneBytePerPair) {
  Params p({"REQUEST_METHOD=GET", "REQUEST_URI=/a", "EMPTY="});
  EXPECT_EQ(params_bytes(p.request()), int64_t(18 + 14 + 6));
  Params none({});
  EXPECT_EQ(params_bytes(none.request()), 0);
}

TEST(FcgiExchangeTest, ParamsWithinTheBoundAreRead) {
  Params p({"REQUEST_METHOD=POST", "REQUEST_URI=/x?y=1", "HTTP_COOKIE=a=b", "TETHER_REASON=new"});
  Request req;
  std::map<std::string, std::string> peer;
  ASSERT_TRUE(read_params(p.request(), req, "TETHER_", &peer, params_bytes(p.request())));  // exactly at the bound
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/x");
  EXPECT_EQ(req.query, "y=1");
  EXPECT_EQ(req.cookie("a"), "b");
  EXPECT_EQ(peer.at("TETHER_REASON"), "new");
}

TEST(FcgiExchangeTest, ParamsPastTheBoundAreRefusedAndNothingIsRead) {
  std::string big(70 * 1024, 'x');
  Params p({"REQUEST_METHOD=POST", "REQUEST_URI=/x", "HTTP_X_BIG=" + big, "TETHER_REASON=new"});
  Request req;
  std::map<std::string, std::string> peer;
  EXPECT_FALSE(read_params(p.request(), req, "TETHER_", &peer, 64 * 1024));
  EXPECT_TRUE(req.method.empty());
  EXPECT_TRUE(req.headers.empty());
  EXPECT_TRUE(peer.empty());
}

TEST(FcgiExchangeTest, ManySmallParamsAddUp) {
  std::vector<std::string> kv = {"REQUEST_URI=/"};
  for (int i = 0; i < 2000; ++i) kv.push_back("HTTP_X_H" + std::to_string(i) + "=" + std::string(40, 'v'));
  Params p(kv);
  Request req;
  std::map<std::string, std::string> peer;
  EXPECT_GT(params_bytes(p.request()), 64 * 1024);
  EXPECT_FALSE(read_params(p.request(), req, "TETHER_", &peer, 64 * 1024));
  EXPECT_TRUE(req.headers.empty());
}

TEST(FcgiExchangeTest, NoBoundByDefault) {
  Params p({"REQUEST_URI=/", "HTTP_X_BIG=" + std::string(200 * 1024, 'x')});
  Request req;
  std::map<std::string, std::string> peer;
  EXPECT_TRUE(read_params(p.request(), req, "", &peer));
  EXPECT_EQ(req.headers.at("x-big").size(), 200u * 1024);
}

// The server knows no prefix of its own: without one, no param is set apart,
// and a header nginx made from a client's "Tether-From:" (HTTP_TETHER_FROM)
// never is.
TEST(FcgiExchangeTest, SideParamsOnlyByTheGivenPrefix) {
  Params p({"REQUEST_URI=/", "TETHER_FROM=h1-0", "HTTP_TETHER_FROM=forged", "X_OTHER=1"});
  Request req;
  std::map<std::string, std::string> side;
  ASSERT_TRUE(read_params(p.request(), req, "", &side));
  EXPECT_TRUE(side.empty());
  ASSERT_TRUE(read_params(p.request(), req, "TETHER_", &side));
  EXPECT_EQ(side.size(), 1u);
  EXPECT_EQ(side.at("TETHER_FROM"), "h1-0");
  EXPECT_EQ(req.headers.at("tether-from"), "forged");
}

TEST(FcgiExchangeTest, NewStatusTextsAreNamed) {
  EXPECT_STREQ(status_text(429), "Too Many Requests");
  EXPECT_STREQ(status_text(431), "Request Header Fields Too Large");
}

}  // namespace
}  // namespace tether::fcgi
