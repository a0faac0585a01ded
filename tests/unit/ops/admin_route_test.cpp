// The admin page's CSRF tokens (ops/csrf.h) and the admin and status rules
// with every check in place: each refusal (bad Host, cross-site Origin,
// cross-site Sec-Fetch-Site, missing, forged, expired token, a peer's
// forwarded request) is a counted 403, and the accepted path gets through
// to the action. A token verifies on a worker with the same key set and
// across a key rotation.
#include <gtest/gtest.h>
#include <re2/re2.h>


#include "cluster/forwarded.h"
#include "common/clock.h"
#include "common/firewall.h"
#include "ops/admin_route.h"
#include "support/own_status.h"

namespace tether {
namespace {

using nlohmann::json;

TokenKey random_key(bool verify_only = false) {
  uint8_t b[kTokenKeyBytes];
  randombytes_buf(b, sizeof b);
  return TokenKey(b, verify_only);
}

TokenCodec codec_of(std::vector<TokenKey> keys) {
  auto r = TokenCodec::from_keys(std::move(keys));
  if (!r) throw std::runtime_error(r.message());
  return std::move(r.value());
}

constexpr int64_t kNow = 1800000000;

TEST(CsrfTest, AnIssuedTokenVerifiesOnAnyWorkerWithTheKeys) {
  TokenKey k = random_key();
  TokenCodec mine = codec_of({k}), other_worker = codec_of({k});
  std::string t = CsrfTokens(mine).issue(kNow);
  EXPECT_EQ(t.size(), kCsrfTokenChars);
  EXPECT_NE(t, CsrfTokens(mine).issue(kNow));  // fresh each time
  EXPECT_EQ(CsrfTokens(other_worker).verify(t, kNow + 60), std::nullopt);
  EXPECT_EQ(CsrfTokens(other_worker).verify(t, kNow + kCsrfLifetime_s), std::nullopt);
}

TEST(CsrfTest, MissingForgedAndExpiredTokensAreRefused) {
  TokenCodec codec = codec_of({random_key()});
  CsrfTokens csrf(codec);
  std::string t = csrf.issue(kNow);
  EXPECT_EQ(csrf.verify("", kNow), "missing");
  EXPECT_EQ(csrf.verify(t.substr(1), kNow), "malformed");
  EXPECT_EQ(csrf.verify(t + "A", kNow), "malformed");
  EXPECT_EQ(csrf.verify(std::string(kCsrfTokenChars, '*'), kNow), "malformed");
  EXPECT_EQ(csrf.verify(t, kNow + kCsrfLifetime_s + 1), "expired");
  EXPECT_EQ(csrf.verify(CsrfTokens(codec).issue(kNow + kCsrfSkew_s + 10), kNow), "from the future");
  // Another cluster's token, and one with a byte changed anywhere.
  EXPECT_EQ(csrf.verify(CsrfTokens(codec_of({random_key()})).issue(kNow), kNow), "does not verify");
  for (size_t i = 12; i < t.size() - 1; i += 7) {  // past the time (changing it expires it first)
    std::string bad = t;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_TRUE(csrf.verify(bad, kNow)) << i;
  }
  // A forged huge issue time neither overflows nor passes.
  std::string future = t;
  future.replace(0, 11, "___________");
  EXPECT_TRUE(csrf.verify(future, kNow));
}

TEST(CsrfTest, ATokenOutlivesARotationWhileItsKeyIsInTheSet) {
  TokenKey old_key = random_key(), new_key = random_key(true);
  TokenCodec codec = codec_of({old_key});
  CsrfTokens csrf(codec);
  std::string t = csrf.issue(kNow);
  auto with = [](std::vector<TokenKey> keys) {
    auto s = KeySet::make(std::move(keys));
    if (!s) throw std::runtime_error(s.message());
    return s.value();
  };
  codec.replace(with({old_key, new_key}));  // the new key verify-only
  EXPECT_EQ(csrf.verify(t, kNow), std::nullopt);
  codec.replace(with({TokenKey(old_key.bytes(), true), TokenKey(new_key.bytes())}));  // the new key seals
  EXPECT_EQ(csrf.verify(t, kNow), std::nullopt);
  std::string t2 = csrf.issue(kNow);
  codec.replace(with({TokenKey(new_key.bytes())}));  // the old key dropped
  EXPECT_EQ(csrf.verify(t, kNow), "does not verify");
  EXPECT_EQ(csrf.verify(t2, kNow), std::nullopt);
}

// An admin and a status rule of worker h1-3 without Redis: a drain that
// passes every check answers 503 ("goes over the bus"), not 403.
class AdminRouteTest : public ::testing::Test {
 protected:
  AdminRouteTest() : own_(3), codec_(codec_of({random_key()})) {
    auto a = AdminRoute::make(json::object(), sources(), codec_);
    auto s = StatusRoute::make(json::object(), sources());
    if (!a || !s) throw std::runtime_error("rule refused");
    admin_ = std::move(a.value());
    status_ = std::move(s.value());
  }
  StatusSources sources() {
    return StatusSources{own_.config, own_.server, own_.sessions, own_.forward, nullptr, {}, 1700000000, nullptr};
  }
  Response get(RouteHandler& rule, const std::string& path, std::map<std::string, std::string> headers = {},
               const Forwarded* fwd = nullptr) {
    Request r;
    r.method = "GET";
    r.path = path;
    r.remote_addr = "127.0.0.1";
    r.headers = std::move(headers);
    RouteMatch m;
    m.forwarded = fwd;
    return rule.serve(r, m);
  }
  // The page's token, as its script reads it.
  std::string page_token() {
    Response page = get(*admin_, "/tether/admin", {{"host", "127.0.0.1:8080"}});
    std::string token;
    if (page.status != 200 ||
        !RE2::PartialMatch(page.body, R"re(name="tether-csrf" content="([^"]+)")re", &token)) {
      throw std::runtime_error("no token in the page");
    }
    return token;
  }
  Response drain(std::map<std::string, std::string> headers, const Forwarded* fwd = nullptr) {
    Request r;
    r.method = "POST";
    r.path = "/tether/admin/drain";
    r.remote_addr = "127.0.0.1";
    r.body = "worker=h1-9";
    r.headers = std::move(headers);
    r.headers.emplace("content-type", "application/x-www-form-urlencoded");
    RouteMatch m;
    m.forwarded = fwd;
    return admin_->serve(r, m);
  }
  std::map<std::string, std::string> browser(const std::string& token) {
    return {{"host", "127.0.0.1:8080"}, {"origin", "http://127.0.0.1:8080"}, {"sec-fetch-site", "same-origin"},
            {"x-tether-csrf", token}};
  }

  test_support::OwnStatus own_;
  TokenCodec codec_;
  std::unique_ptr<RouteHandler> admin_, status_;
};

TEST_F(AdminRouteTest, APostWithThePagesTokenFromTheSameSiteGetsThrough) {
  Response page = get(*admin_, "/tether/admin", {{"host", "localhost"}});
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("X-Tether-CSRF"), std::string::npos);  // the script sends it
  Response r = drain(browser(page_token()));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("bus"), std::string::npos);
  // A tool with no browser headers but the token gets through too.
  EXPECT_EQ(drain({{"x-tether-csrf", page_token()}}).status, 503);
}

TEST_F(AdminRouteTest, EachRefusalIsA403WithItsReasonCounted) {
  std::string token = page_token();
  struct Case {
    const char* kind;
    std::map<std::string, std::string> headers;
    const char* says;
  };
  auto h = browser(token);
  auto with = [&](const char* k, std::string v) { auto c = h; c[k] = std::move(v); return c; };
  auto without = [&](const char* k) { auto c = h; c.erase(k); return c; };
  std::string expired = CsrfTokens(codec_).issue(unix_seconds() - kCsrfLifetime_s - 60);
  std::string forged = CsrfTokens(codec_of({random_key()})).issue(unix_seconds());
  std::vector<Case> cases = {
      {"admin.bad_host", with("host", "attacker.example"), "\"hosts\""},  // DNS rebinding
      {"admin.cross_site", with("origin", "http://attacker.example"), "Origin"},
      {"admin.cross_site", with("sec-fetch-site", "cross-site"), "Sec-Fetch-Site"},
      {"admin.bad_csrf", without("x-tether-csrf"), "reload the page"},
      {"admin.bad_csrf", with("x-tether-csrf", forged), "reload the page"},
      {"admin.bad_csrf", with("x-tether-csrf", expired), "reload the page"},
      {"admin.bad_csrf", with("x-tether-csrf", "1"), "reload the page"}};
  for (const auto& c : cases) {
    uint64_t before = firewall::refused_count(c.kind);
    Response r = drain(c.headers);
    EXPECT_EQ(r.status, 403) << c.kind << " " << r.body;
    EXPECT_NE(r.body.find(c.says), std::string::npos) << r.body;
    EXPECT_EQ(firewall::refused_count(c.kind) - before, 1u) << c.kind;
  }
  Forwarded from{"h2-0", ""};
  uint64_t before = firewall::refused_count("admin.forwarded");
  EXPECT_EQ(drain(h, &from).status, 403);
  EXPECT_EQ(get(*admin_, "/tether/admin", {{"host", "localhost"}}, &from).status, 403);
  EXPECT_EQ(firewall::refused_count("admin.forwarded") - before, 2u);
  // The page and its status JSON ask for an allowed Host too.
  EXPECT_EQ(get(*admin_, "/tether/admin", {{"host", "attacker.example"}}).status, 403);
  EXPECT_EQ(get(*admin_, "/tether/admin/status", {{"host", "attacker.example"}}).status, 403);
  EXPECT_EQ(get(*admin_, "/tether/admin/status", {{"host", "localhost"}}).status, 200);
}

// Recovered sessions always; hibernated ones hidden until the status has
// sessions.hibernated (the browser test, tests/integration/test_admin.py, fills them).
TEST_F(AdminRouteTest, ThePageShowsRecoveredAndHibernatedSessions) {
  Response page = get(*admin_, "/tether/admin", {{"host", "localhost"}});
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("id=\"total-recovered\""), std::string::npos);
  EXPECT_NE(page.body.find("num(t, \"sessions\", \"recovered\")"), std::string::npos);
  EXPECT_NE(page.body.find("<span id=\"hibernated-fig\" hidden>"), std::string::npos);
  EXPECT_NE(page.body.find(".hibernated === \"number\""), std::string::npos);
}

TEST_F(AdminRouteTest, ThePageIsNotToBeFramed) {
  Response page = get(*admin_, "/tether/admin", {{"host", "localhost"}});
  bool deny = false;
  for (const auto& [k, v] : page.headers) deny = deny || (k == "X-Frame-Options" && v == "DENY");
  EXPECT_TRUE(deny);
}

TEST_F(AdminRouteTest, StatusRefusesAForeignHostAndAPeersRequest) {
  EXPECT_EQ(get(*status_, "/tether/status", {{"host", "localhost:8080"}}).status, 200);
  EXPECT_EQ(get(*status_, "/tether/status").status, 200);  // a FastCGI probe without Host
  uint64_t host_before = firewall::refused_count("status.bad_host");
  uint64_t fwd_before = firewall::refused_count("status.forwarded");
  EXPECT_EQ(get(*status_, "/tether/status", {{"host", "attacker.example:8080"}}).status, 403);
  Forwarded from{"h2-0", ""};
  EXPECT_EQ(get(*status_, "/tether/status", {{"host", "localhost"}}, &from).status, 403);
  EXPECT_EQ(firewall::refused_count("status.bad_host") - host_before, 1u);
  EXPECT_EQ(firewall::refused_count("status.forwarded") - fwd_before, 1u);
}

}  // namespace
}  // namespace tether
