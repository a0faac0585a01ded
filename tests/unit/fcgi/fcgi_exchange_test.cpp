// Tests read_params (src/fcgi/exchange): the params bound (max_params_bytes)
// and what is read below it, on an FCGX_Request whose envp the test fills
// (read_params reads nothing else of it).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
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
  ASSERT_TRUE(read_params(p.request(), req, params_bytes(p.request())));  // exactly at the bound
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/x");
  EXPECT_EQ(req.query, "y=1");
  EXPECT_EQ(req.cookie("a"), "b");
}

TEST(FcgiExchangeTest, ParamsPastTheBoundAreRefusedAndNothingIsRead) {
  std::string big(70 * 1024, 'x');
  Params p({"REQUEST_METHOD=POST", "REQUEST_URI=/x", "HTTP_X_BIG=" + big, "TETHER_REASON=new"});
  Request req;
  EXPECT_FALSE(read_params(p.request(), req, 64 * 1024));
  EXPECT_TRUE(req.method.empty());
  EXPECT_TRUE(req.headers.empty());
}

TEST(FcgiExchangeTest, ManySmallParamsAddUp) {
  std::vector<std::string> kv = {"REQUEST_URI=/"};
  for (int i = 0; i < 2000; ++i) kv.push_back("HTTP_X_H" + std::to_string(i) + "=" + std::string(40, 'v'));
  Params p(kv);
  Request req;
  EXPECT_GT(params_bytes(p.request()), 64 * 1024);
  EXPECT_FALSE(read_params(p.request(), req, 64 * 1024));
  EXPECT_TRUE(req.headers.empty());
}

TEST(FcgiExchangeTest, NoBoundByDefault) {
  Params p({"REQUEST_URI=/", "HTTP_X_BIG=" + std::string(200 * 1024, 'x')});
  Request req;
  EXPECT_TRUE(read_params(p.request(), req));
  EXPECT_EQ(req.headers.at("x-big").size(), 200u * 1024);
}

// The FastCGI socket's requests (nginx's) carry nothing of a peer's: a
// TETHER_* param is read as nothing, and a header nginx made from a
// client's "Tether-From:" (HTTP_TETHER_FROM) is a header. Only the peer
// channel's pairs set params apart, by the prefix given.
TEST(FcgiExchangeTest, SideParamsOnlyFromThePeerChannelsPairs) {
  std::vector<std::string> kv = {"REQUEST_URI=/", "TETHER_FROM=h1-0", "HTTP_TETHER_FROM=forged", "X_OTHER=1"};
  Params p(kv);
  Request req;
  ASSERT_TRUE(read_params(p.request(), req));
  EXPECT_EQ(req.headers.at("tether-from"), "forged");
  EXPECT_EQ(req.headers.size(), 1u);
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& s : kv) pairs.emplace_back(s.substr(0, s.find('=')), s.substr(s.find('=') + 1));
  Request peer_req;
  std::map<std::string, std::string> side;
  read_param_pairs(pairs, peer_req, "", &side);
  EXPECT_TRUE(side.empty());
  read_param_pairs(pairs, peer_req, "TETHER_", &side);
  EXPECT_EQ(side.size(), 1u);
  EXPECT_EQ(side.at("TETHER_FROM"), "h1-0");
  EXPECT_EQ(peer_req.headers.at("tether-from"), "forged");
}

TEST(FcgiExchangeTest, NewStatusTextsAreNamed) {
  EXPECT_STREQ(status_text(429), "Too Many Requests");
  EXPECT_STREQ(status_text(431), "Request Header Fields Too Large");
}

}  // namespace
}  // namespace tether::fcgi
