// The ownership epoch in the session token (issue 16, item 2), through a
// real SessionRoute against a real redis-server: a copy older than the
// client's token is never served (the request goes to the registry's owner,
// or 503), an owner at a later epoch than the token's reissues the cookie,
// and the app sees its epoch (Session::epoch). And a session whose
// hand-over fence failed is not served until the registry tells whose it is.
#include <gtest/gtest.h>

#include "common/json.h"
#include "support/handover_fixture.h"
#include "cluster/placement.h"
#include "cluster/session_route.h"

namespace tether {
namespace {

class SessionEpochTest : public HandoverFixture {
 protected:
  void SetUp() override {
    HandoverFixture::SetUp();
    placement_ = std::make_unique<Placement>(Placement::Policy::Local, true, "hostB", 2, registry_.get(), nullptr);
    route_ = std::make_unique<SessionRoute>(&apps_["kit"], codec_, *pool_, config_, *forwarder_, *placement_,
                                            handover_.get(), registry_.get());
  }
  Response get(const std::string& cookie) {
    Request req;
    req.method = "GET";
    req.path = "/count";
    if (!cookie.empty()) req.cookies[config_.cookie_name] = cookie;
    return route_->serve(req, RouteMatch{});
  }
  static std::string header_of(const Response& r, const std::string& name) {
    for (const auto& [n, value] : r.headers) {
      if (n == name) return value;
    }
    return "";
  }
  // The token of the answer's Set-Cookie ("" if none).
  static std::string set_cookie(const Response& r) {
    std::string v = header_of(r, "Set-Cookie");
    size_t eq = v.find('='), semi = v.find(';');
    return v.empty() ? "" : v.substr(eq + 1, semi - eq - 1);
  }
  std::string token(const SessionId& sid, int64_t epoch) {
    return codec_.encode(TokenClaims{sid, "hostB", 2, unix_seconds(), epoch});
  }
  static int64_t field_of(const Response& r, const char* key) {
    auto j = parse_json(r.body);
    return j ? int_field(*j, key).value_or(-1) : -1;
  }
  // A new session made here by a request without a cookie: its id.
  SessionId fresh() {
    Response r = get("");
    EXPECT_EQ(r.status, 200) << r.body;
    auto c = codec_.decode(set_cookie(r));
    EXPECT_TRUE(c.has_value());
    return c ? c->sid : SessionId{};
  }

  std::unique_ptr<Placement> placement_;
  std::unique_ptr<SessionRoute> route_;
};

TEST_F(SessionEpochTest, ANewSessionIsAtEpochOneAndItsTokenIsServedHere) {
  SessionId sid = fresh();
  Response r = get(token(sid, 0));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(field_of(r, "n"), 2);
  EXPECT_EQ(field_of(r, "epoch"), 1);
  EXPECT_EQ(set_cookie(r), "") << "nothing changed: no new cookie";
  EXPECT_EQ(pool_->stats().refused_stale.load(), 0u);
}

TEST_F(SessionEpochTest, ACopyOlderThanTheClientsTokenIsNeverServed) {
  SessionId sid = fresh();
  // C took the session at epoch 5 (and the client was served there), while
  // this worker still holds its copy at epoch 1.
  owned_by(sid, c_, 5);
  Response r = get(token(sid, 5));
  EXPECT_NE(r.status, 200) << "the stale copy answered: " << r.body;
  EXPECT_EQ(field_of(r, "n"), -1) << r.body;
  EXPECT_EQ(pool_->stats().refused_stale.load(), 1u);
  EXPECT_EQ(live(), 0u) << "a newer generation lives at C: the copy here is dropped";
  EXPECT_EQ(seen_.ends.load(), 0) << "the session lives on at C: the app is not told it ended";
}

TEST_F(SessionEpochTest, WithoutARegistryOwnerAtThatEpochTheAnswerIs503AndTheCopyStays) {
  SessionId sid = fresh();
  Response r = get(token(sid, 3));  // the registry still names this worker at epoch 1
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(header_of(r, "Retry-After"), "1");
  EXPECT_EQ(pool_->stats().refused_stale.load(), 1u);
  EXPECT_EQ(live(), 1u) << "nobody newer is known: the copy is kept for the registry to settle";
}

// A restarted worker holds nothing of its previous run: a cookie from a
// later epoch that names it is not a stale copy here, and the request goes
// the usual way (the registry, then a new session), never a 503 loop.
TEST_F(SessionEpochTest, ALaterEpochForASessionThisWorkerDoesNotHoldIsNoStaleCopy) {
  SessionId gone = SessionId::random();
  Response r = get(token(gone, 3));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(field_of(r, "n"), 1);
  auto c = codec_.decode(set_cookie(r));
  ASSERT_TRUE(c.has_value());
  EXPECT_NE(c->sid, gone) << "a client never chooses its session id";
  EXPECT_EQ(pool_->stats().refused_stale.load(), 0u);
}

TEST_F(SessionEpochTest, AnOwnerAtALaterEpochReissuesTheCookieAndTheAppSeesIt) {
  SessionId sid = SessionId::random();
  owned_by(sid, a_, 3);
  Response moved = handover_->receive(envelope(sid, 3, unix_millis() + 5000), Forwarded{"hostA-1", ""});
  ASSERT_EQ(moved.status, 200) << moved.body;
  ASSERT_EQ(registry_->epoch(sid), 4);
  // The client still holds the token its old owner wrote (no epoch).
  Response r = get(codec_.encode(TokenClaims{sid, "hostB", 2, unix_seconds(), 0}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(field_of(r, "n"), 6);
  EXPECT_EQ(field_of(r, "epoch"), 4);
  auto c = codec_.decode(set_cookie(r));
  ASSERT_TRUE(c.has_value()) << "an answer at a later epoch than the token's carries a new cookie";
  EXPECT_EQ(c->epoch, 4);
  EXPECT_EQ(c->sid, sid);
  // With that cookie, nothing more to say.
  Response again = get(set_cookie(r));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(set_cookie(again), "");
}

// A hand-over whose fence Redis could not answer: the receiver may own the
// session, so the copy here answers nothing until the registry tells.
TEST_F(SessionEpochTest, AnUnsettledSessionIsNotServedUntilTheRegistryTells) {
  SessionId sid = fresh();
  owned_by(sid, b_, 7);  // not the epoch this worker holds it at: the fence cannot tell
  ASSERT_FALSE(registry_->reclaim(sid, unix_millis()));
  ASSERT_TRUE(registry_->unsettled(sid));
  Response r = get(token(sid, 0));
  EXPECT_EQ(r.status, 503) << "served while another worker may own it: " << r.body;
  EXPECT_EQ(field_of(r, "n"), -1);
  EXPECT_EQ(live(), 1u);
  // The receiver took it after all: the copy here is dropped, unended.
  owned_by(sid, c_, 8);
  r = get(token(sid, 0));
  EXPECT_NE(r.status, 200) << r.body;  // C's address is not real: 503
  EXPECT_EQ(live(), 0u);
  EXPECT_EQ(seen_.ends.load(), 0);
  EXPECT_FALSE(registry_->unsettled(sid));
  EXPECT_EQ(pool_->stats().refused_stale.load(), 2u);
}

TEST_F(SessionEpochTest, AnUnsettledSessionThatStayedHereIsServedAtTheFencedEpoch) {
  SessionId sid = fresh();
  owned_by(sid, b_, 7);
  ASSERT_FALSE(registry_->reclaim(sid, unix_millis()));
  owned_by(sid, b_, 1);  // Redis answers again, and nobody took it
  Response r = get(token(sid, 0));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(field_of(r, "n"), 2);
  EXPECT_EQ(field_of(r, "epoch"), 2) << "the fence moved it to the next epoch";
  auto c = codec_.decode(set_cookie(r));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->epoch, 2);
  EXPECT_FALSE(registry_->unsettled(sid));
}

}  // namespace
}  // namespace tether
