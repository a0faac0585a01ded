// The session route's decision table (src/cluster/session_route), with
// fakes for its collaborators (route_parts.h, registry/owner_book.h) and a
// real session pool and token codec: which cookie goes where, and why a
// new session starts (new, invalid, expired, lost), what a forwarded
// request may not do, and the answers of placement, adoption, the stale
// copy and the unsettled hand-over. End to end (real workers, Redis,
// nginx) the same paths are covered by tests/integration/.
#include "support/session_route_fixture.h"

namespace tether {
namespace {

using route_test::SessionRouteTest;

TEST_F(SessionRouteTest, NoCookieMakesANewSessionHereWithACookie) {
  Response r = get("");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(reason_of(r), "new");
  auto c = codec_.decode(set_cookie(r));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->host, "h1");
  EXPECT_EQ(c->worker, 0);
  EXPECT_TRUE(peers_.calls.empty());
}

TEST_F(SessionRouteTest, AnInvalidCookieStartsOverAsInvalid) {
  Response r = get("h1-0.not-a-token");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(reason_of(r), "invalid");
}

TEST_F(SessionRouteTest, AnExpiredCookieStartsOverAsExpired) {
  SessionId sid = fresh();
  Response r = get(token(sid, "h1", 0, unix_seconds() - config_.lifetime_s - 10));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(reason_of(r), "expired");
  EXPECT_NE(codec_.decode(set_cookie(r))->sid, sid);
}

TEST_F(SessionRouteTest, ACookieOfThisWorkerIsServedHereWithoutANewCookie) {
  SessionId sid = fresh();
  Response r = get(token(sid, "h1", 0));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(n_of(r), 2);
  EXPECT_EQ(set_cookie(r), "");
}

TEST_F(SessionRouteTest, ACookieOfALiveWorkerIsForwardedThereAndItsAnswerRelayed) {
  peers_.addrs["h2-1"] = "127.0.0.1:9001";
  Response r = get(token(SessionId::random(), "h2", 1));
  EXPECT_EQ(r.body, "from 127.0.0.1:9001");
  ASSERT_EQ(peers_.calls.size(), 1u);
  EXPECT_EQ(peers_.calls[0].reason, "");
}

TEST_F(SessionRouteTest, AnOwnerThatFailsAfterTakingTheRequestGives502AndNoNewSession) {
  peers_.addrs["h2-1"] = "127.0.0.1:9001";
  peers_.answer = CallResult::Kind::Failed;
  Response r = get(token(SessionId::random(), "h2", 1));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(pool_->stats().live.load(), 0u);
}

TEST_F(SessionRouteTest, AGoneOwnerWithNoMoveInTheRegistryStartsOverAsLost) {
  Response r = get(token(SessionId::random(), "h2", 1));  // h2-1 is not alive
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(reason_of(r), "lost");
}

TEST_F(SessionRouteTest, ASilentOwnerWhoseSessionMovedIsFollowedToTheNewOwner) {
  peers_.addrs["h2-1"] = "127.0.0.1:9001";
  peers_.answer = CallResult::Kind::NoAnswer;
  SessionId sid = SessionId::random();
  book_.entries[sid] = registry::SessionEntry{{"h3", 4, "127.0.0.1:9004"}, 2, 0, 0};
  Response r = get(token(sid, "h2", 1));
  ASSERT_EQ(peers_.calls.size(), 2u);
  EXPECT_EQ(peers_.calls[1].addr, "127.0.0.1:9004");
}

TEST_F(SessionRouteTest, AForwardedRequestIsNeverForwardedAgain) {
  peers_.addrs["h2-1"] = "127.0.0.1:9001";
  Forwarded from{"h2-1", ""};
  Response r = get(token(SessionId::random(), "h2", 1), &from);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(reason_of(r), "lost");
  EXPECT_TRUE(peers_.calls.empty());
}

TEST_F(SessionRouteTest, APeersReasonIsTheNewSessionsReason) {
  Forwarded from{"h2-1", "expired"};
  Response r = get("", &from);
  EXPECT_EQ(reason_of(r), "expired");
  EXPECT_TRUE(peers_.calls.empty()) << "placement chose this worker: never asked again";
}

TEST_F(SessionRouteTest, AnAdoptedSessionIsServedHereAndGetsACookieNamingThisWorker) {
  SessionId sid = fresh();
  adoptions_.sids.insert(sid);
  Response r = get(token(sid, "h2", 1));  // its cookie still names its old worker
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(n_of(r), 2);
  auto c = codec_.decode(set_cookie(r));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->host, "h1");
  EXPECT_TRUE(peers_.calls.empty());
}

TEST_F(SessionRouteTest, PlacementElsewhereForwardsWithTheReason) {
  placer_.target = std::string("127.0.0.1:9002");
  Response r = get("h1-0.not-a-token");
  EXPECT_EQ(r.body, "from 127.0.0.1:9002");
  ASSERT_EQ(peers_.calls.size(), 1u);
  EXPECT_EQ(peers_.calls[0].reason, "invalid");
  EXPECT_EQ(pool_->stats().live.load(), 0u);
}

TEST_F(SessionRouteTest, ASilentChosenWorkerMeansTheSessionIsMadeHere) {
  placer_.target = std::string("127.0.0.1:9002");
  peers_.answer = CallResult::Kind::Unreachable;
  Response r = get("");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(reason_of(r), "new");
  EXPECT_EQ(pool_->stats().live.load(), 1u);
}

TEST_F(SessionRouteTest, NoRoomAnywhereIs503WithRetryAfterAndCounted) {
  config_.max_sessions = 7;
  placer_.target = Result<std::string>::error("every worker is full");
  placer_.full = true;
  Response r = get("");
  EXPECT_EQ(r.status, 503);
  bool retry_after = false;
  for (const auto& [n, v] : r.headers) retry_after |= n == "Retry-After" && v == std::to_string(kFullRetryAfterS);
  EXPECT_TRUE(retry_after);
  EXPECT_EQ(placer_.asked.max_sessions, 7);
  EXPECT_EQ(pool_->stats().refused_full.load(), 1u);
  EXPECT_EQ(set_cookie(r), "");
}

TEST_F(SessionRouteTest, AnUnsettledSessionThatTheReceiverTookGoesThereAndTheCopyIsDropped) {
  SessionId sid = fresh();
  book_.unsettled_sids.insert(sid);
  book_.settled = std::optional<registry::Owner>(registry::Owner{"h3", 4, "127.0.0.1:9004"});
  Response r = get(token(sid, "h1", 0));
  EXPECT_EQ(r.body, "from 127.0.0.1:9004");
  EXPECT_EQ(pool_->stats().live.load(), 0u);
  EXPECT_EQ(book_.forgotten, std::vector<SessionId>{sid});
}

TEST_F(SessionRouteTest, AnUnsettledSessionIs503WhileTheRegistryCannotTell) {
  SessionId sid = fresh();
  book_.unsettled_sids.insert(sid);
  book_.settled = Result<std::optional<registry::Owner>>::error("redis down");
  Response r = get(token(sid, "h1", 0));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(pool_->stats().live.load(), 1u) << "nobody else is known to have it: kept";
}

TEST_F(SessionRouteTest, AStaleCopyIsNeverServedAndTheRequestGoesToTheNewerOwner) {
  SessionId sid = fresh();
  book_.entries[sid] = registry::SessionEntry{{"h3", 4, "127.0.0.1:9004"}, 5, 0, 0};
  Response r = get(token(sid, "h1", 0, unix_seconds(), 5));  // a client served at epoch 5; here it is 1
  EXPECT_EQ(r.body, "from 127.0.0.1:9004");
  EXPECT_EQ(pool_->stats().refused_stale.load(), 1u);
  EXPECT_EQ(pool_->stats().live.load(), 0u);
}

// Session::rotate_id: the answer's cookie names the new id at this worker; the
// new cookie finds the same session, the old one a new session (expired).
TEST_F(SessionRouteTest, ARotatedSessionGetsANewCookieAndItsOldCookieStartsOverAsExpired) {
  SessionId sid = fresh();
  Response r = get(token(sid, "h1", 0), nullptr, "/rotate");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(n_of(r), 2);
  auto c = codec_.decode(set_cookie(r));
  ASSERT_TRUE(c.has_value()) << set_cookie_header(r);
  EXPECT_NE(c->sid, sid);
  EXPECT_EQ(c->host, "h1");
  EXPECT_EQ(c->worker, 0);
  EXPECT_LE(c->epoch, 1);
  EXPECT_EQ(pool_->stats().rotated.load(), 1u);

  Response again = get(codec_.encode(*c));
  EXPECT_EQ(n_of(again), 3);
  EXPECT_EQ(set_cookie(again), "");

  Response old = get(token(sid, "h1", 0));
  ASSERT_EQ(old.status, 200);
  EXPECT_EQ(reason_of(old), "expired");
  EXPECT_EQ(n_of(old), 1);
  auto fresh_cookie = codec_.decode(set_cookie(old));
  ASSERT_TRUE(fresh_cookie.has_value());
  EXPECT_NE(fresh_cookie->sid, sid);
  EXPECT_NE(fresh_cookie->sid, c->sid);
  EXPECT_EQ(pool_->stats().live.load(), 2);
  EXPECT_TRUE(peers_.calls.empty());
}

TEST_F(SessionRouteTest, RotatingOnTheFirstRequestSetsOneCookieForTheLiveId) {
  Response r = get("", nullptr, "/rotate");
  auto c = codec_.decode(set_cookie(r));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(n_of(get(codec_.encode(*c))), 2);
  EXPECT_EQ(pool_->stats().live.load(), 1);
  int cookies = 0;
  for (const auto& h : r.headers) cookies += h.first == "Set-Cookie";
  EXPECT_EQ(cookies, 1);
}

// A request forwarded here by a peer rotates like any other: the cookie is
// in the answer the peer relays.
TEST_F(SessionRouteTest, AForwardedRotationCarriesTheNewCookieInTheAnswer) {
  SessionId sid = fresh();
  Forwarded from{"h2-1", ""};
  Response r = get(token(sid, "h1", 0), &from, "/rotate");
  auto c = codec_.decode(set_cookie(r));
  ASSERT_TRUE(c.has_value());
  EXPECT_NE(c->sid, sid);
}

TEST_F(SessionRouteTest, TheCookieAttributesDefaultToLaxAndSecureOnHttpsOnly) {
  std::string plain = set_cookie_header(get(""));
  EXPECT_EQ(plain.rfind("tether_sid=", 0), 0u) << plain;
  EXPECT_NE(plain.find("; Path=/; HttpOnly; SameSite=Lax"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("Secure"), std::string::npos) << plain;
  std::string tls = set_cookie_header(get("", nullptr, "/n", true));
  EXPECT_NE(tls.find("; Secure"), std::string::npos) << tls;
}

TEST_F(SessionRouteTest, TheCookieOptionsShapeEverySetCookieAndTheNameIsReadBack) {
  config_.cookie_secure = "always";
  config_.cookie_samesite = "Strict";
  config_.cookie_host_prefix = true;
  Response first = get("");  // plain HTTP, as nginx behind a TLS terminator sees it
  std::string h = set_cookie_header(first);
  EXPECT_EQ(h.rfind("__Host-tether_sid=", 0), 0u) << h;
  EXPECT_NE(h.find("; Path=/;"), std::string::npos) << h;
  EXPECT_NE(h.find("SameSite=Strict"), std::string::npos) << h;
  EXPECT_NE(h.find("; Secure"), std::string::npos) << h;
  std::string value = set_cookie(first);
  EXPECT_EQ(n_of(get(value)), 2);  // read back under __Host-tether_sid

  std::string rotated = set_cookie_header(get(value, nullptr, "/rotate"));
  EXPECT_EQ(rotated.rfind("__Host-tether_sid=", 0), 0u) << rotated;
  EXPECT_NE(rotated.find("SameSite=Strict; Secure"), std::string::npos) << rotated;

  Request bare;  // the unprefixed name is some other cookie now
  bare.method = "GET";
  bare.path = "/n";
  bare.cookies["tether_sid"] = set_cookie(first);
  Response r = route_->serve(bare, RouteMatch{});
  EXPECT_EQ(reason_of(r), "new");
  // Clearing it (the session ended) needs the same name, Path and Secure, or a browser keeps it.
  std::string live = rotated.substr(rotated.find('=') + 1, rotated.find(';') - rotated.find('=') - 1);
  Response end = get(live, nullptr, "/end");
  EXPECT_EQ(n_of(end), 4);  // the rotated session itself
  std::string cleared = set_cookie_header(end);
  EXPECT_EQ(cleared, "__Host-tether_sid=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0");
  config_.cookie_samesite = "None";
  EXPECT_NE(set_cookie_header(get("")).find("SameSite=None; Secure"), std::string::npos);
}

}  // namespace
}  // namespace tether
