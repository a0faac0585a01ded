// The session route's decision table (src/cluster/session_route), with
// fakes for its collaborators (route_parts.h, registry/owner_book.h) and a
// real session pool and token codec: which cookie goes where, and why a
// new session starts (new, invalid, expired, lost), what a forwarded
// request may not do, and the answers of placement, adoption, the stale
// copy and the unsettled hand-over. End to end (real workers, Redis,
// nginx) the same paths are covered by tests/integration/.
#include <gtest/gtest.h>
#include <sodium.h>

#include <map>
#include <unordered_map>
#include <unordered_set>
#include <string>
#include <vector>

#include "cluster/forwarded.h"
#include "cluster/session_route.h"
#include "common/firewall.h"
#include "common/json.h"
#include "support/handover_fixture.h"

namespace tether {
namespace {

// Says why it started and counts; "/rotate" asks for a new id (a login),
// "/end" ends it. Its state is n; restore() refuses a negative one; "order"
// says whether restore ran before on_start.
class Reasoned final : public Session {
 public:
  void on_start(StartReason r) override {
    reason_ = to_string(r);
    order_ += "start;";
  }
  Response handle(const Request& req) override {
    if (req.path == "/rotate") rotate_id();
    if (req.path == "/end") end();
    return Response::json(nlohmann::json{{"n", ++n_}, {"reason", reason_}, {"order", order_}}.dump());
  }
  std::optional<nlohmann::json> snapshot() const override { return nlohmann::json{{"n", n_}}; }
  bool restore(const nlohmann::json& state) override {
    auto n = int_field(state, "n");
    if (!n || *n < 0) return false;
    n_ = static_cast<int>(*n);
    order_ += "restore;";
    return true;
  }

 private:
  std::string reason_, order_;
  int n_ = 0;
};

struct FakePeers final : PeerLink {
  std::map<std::string, std::string> addrs;  // "host-n" -> address of live workers
  fcgi::CallResult::Kind answer = fcgi::CallResult::Kind::Ok;
  struct Call {
    std::string addr, reason, path;
  };
  std::vector<Call> calls;
  std::string address_of(const std::string& host, int worker) const override {
    auto it = addrs.find(host + "-" + std::to_string(worker));
    return it == addrs.end() ? "" : it->second;
  }
  fcgi::CallResult forward(const std::string& addr, const Request& req, const std::string& reason) override {
    calls.push_back({addr, reason, req.path});
    fcgi::CallResult r;
    r.kind = answer;
    if (answer == fcgi::CallResult::Kind::Ok) r.response = Response::text("from " + addr);
    return r;
  }
};

struct FakePlacer final : Placer {
  Result<std::string> target = std::string();  // "" = here
  bool full = false;
  PlacementRoom asked;
  Result<std::string> choose(const Request&, const PlacementRoom& room, bool* f) override {
    asked = room;
    *f = full;
    return target;
  }
};

struct FakeAdoptions final : Adoptions {
  std::unordered_set<SessionId, SessionIdHash> sids;
  std::map<std::string, SessionFactory> apps;
  bool adopted(const SessionId& sid) const override { return sids.count(sid) != 0; }
  void recovered(const SessionId& sid) override { sids.insert(sid); }
  const SessionFactory* app(const std::string& name) const override {
    auto it = apps.find(name);
    return it == apps.end() ? nullptr : &it->second;
  }
};

struct FakeBook final : OwnerBook {
  std::unordered_map<SessionId, registry::SessionEntry, SessionIdHash> entries;
  std::unordered_set<SessionId, SessionIdHash> unsettled_sids;
  Result<std::optional<registry::Owner>> settled = std::optional<registry::Owner>();
  std::unordered_map<SessionId, int64_t, SessionIdHash> epochs;
  std::vector<SessionId> forgotten;
  Result<std::optional<registry::SessionEntry>> lookup(const SessionId& sid) override {
    auto it = entries.find(sid);
    if (it == entries.end()) return std::optional<registry::SessionEntry>();
    return std::optional<registry::SessionEntry>(it->second);
  }
  bool unsettled(const SessionId& sid) override { return unsettled_sids.count(sid) != 0; }
  Result<std::optional<registry::Owner>> settle(const SessionId& sid) override {
    unsettled_sids.erase(sid);
    return settled;
  }
  void forget(const SessionId& sid) override { forgotten.push_back(sid); }
  int64_t epoch(const SessionId& sid) override {
    auto it = epochs.find(sid);
    return it == epochs.end() ? 1 : it->second;
  }
  // Recovery as Registry::recover decides it, over the entries and records
  // here (the record is checked by the real decoder): `winner`, if set,
  // takes the entry over first (the race lost).
  std::unordered_map<SessionId, std::string, SessionIdHash> records;
  std::optional<registry::Owner> winner;
  registry::Owner me{"h1", 0, "127.0.0.1:9000"};
  int recoveries = 0;
  Result<registry::Recovery> recover(const SessionId& sid, const registry::Owner& gone,
                                     const std::function<bool(const std::string&)>& known_app) override {
    ++recoveries;
    using K = registry::Recovery::Kind;
    registry::Recovery out;
    auto it = entries.find(sid);
    if (it == entries.end()) return out;
    registry::SessionEntry& e = it->second;
    if (e.owner.host == me.host && e.owner.worker == me.worker) {
      out.kind = K::Ours;
      return out;
    }
    if (e.owner.host != gone.host || e.owner.worker != gone.worker) {
      out.kind = K::Taken;
      out.owner = e.owner;
      return out;
    }
    auto rec = records.find(sid);
    auto usable = registry::usable_checkpoint(sid, rec == records.end() ? nullptr : &rec->second, e, known_app);
    if (!usable) return out;
    e.owner = winner ? *winner : me;
    e.epoch++;
    if (winner) {
      out.kind = K::Taken;
      out.owner = *winner;
      return out;
    }
    epochs[sid] = e.epoch;
    out.kind = K::Won;
    out.app = usable->app;
    out.epoch = e.epoch;
    out.at_ms = usable->at_ms;
    out.envelope = nlohmann::json{{"sid", sid.hex()}, {"created", usable->created_ms}, {"state", usable->state}};
    return out;
  }
};

class SessionRouteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_GE(sodium_init(), 0); }
  void SetUp() override {
    config_.host = "h1";
    config_.worker = 0;
    config_.request_timeout_s = 30;
    pool_ = std::make_unique<SessionPool>(clock_, SessionTimeouts{}, "h1-0", 1);
    pool_->start();
    route_ = std::make_unique<SessionRoute>(&factory_, codec_, *pool_, config_, peers_, placer_, &adoptions_, &book_);
  }
  void TearDown() override { pool_->stop(); }

  Response get(const std::string& cookie, const Forwarded* from = nullptr, const std::string& path = "/n",
               bool https = false) {
    Request req;
    req.method = "GET";
    req.path = path;
    req.https = https;
    if (!cookie.empty()) req.cookies[config_.session_cookie()] = cookie;
    RouteMatch m;
    m.forwarded = from;
    return route_->serve(req, m);
  }
  std::string token(const SessionId& sid, const std::string& host, int worker, int64_t issued = unix_seconds(),
                    int64_t epoch = 0) {
    return codec_.encode(TokenClaims{sid, host, worker, issued, epoch});
  }
  // The whole Set-Cookie header ("" when none).
  static std::string set_cookie_header(const Response& r) {
    for (const auto& [n, v] : r.headers) {
      if (n == "Set-Cookie") return v;
    }
    return "";
  }
  static std::string set_cookie(const Response& r) {
    for (const auto& [n, v] : r.headers) {
      if (n == "Set-Cookie") return v.substr(v.find('=') + 1, v.find(';') - v.find('=') - 1);
    }
    return "";
  }
  static std::string reason_of(const Response& r) {
    auto j = parse_json(r.body);
    return j ? string_field(*j, "reason").value_or("?") : "?";
  }
  static int64_t n_of(const Response& r) {
    auto j = parse_json(r.body);
    return j ? int_field(*j, "n").value_or(-1) : -1;
  }
  // A session made here by a cookie-less request: its id.
  SessionId fresh() {
    Response r = get("");
    auto c = codec_.decode(set_cookie(r));
    EXPECT_TRUE(c.has_value()) << r.body;
    return c ? c->sid : SessionId{};
  }

  // A checkpoint record as the writer stores it (the shared design).
  static std::string record(const std::string& host, int worker, int64_t epoch, const std::string& app = "notes",
                            nlohmann::json state = nlohmann::json{{"n", 41}}) {
    return nlohmann::json{{"v", 1},     {"app", app},   {"host", host},           {"worker", worker},
                          {"epoch", epoch}, {"at", unix_millis() - 100}, {"created", unix_millis() - 60000},
                          {"state", std::move(state)}}
        .dump();
  }
  // sid lives (in the registry) at h2-1, epoch 3, which is gone; its checkpoint says n = 41.
  SessionId dead_owner_with_checkpoint(const std::string& text = "") {
    SessionId sid = SessionId::random();
    book_.entries[sid] = registry::SessionEntry{{"h2", 1, "127.0.0.1:9001"}, 3, 0, 0};
    book_.records[sid] = text.empty() ? record("h2", 1, 3) : text;
    adoptions_.apps["notes"] = factory_;
    return sid;
  }

  Config config_;
  SteadyClock clock_;
  TokenCodec codec_ = test_codec();
  std::unique_ptr<SessionPool> pool_;
  SessionFactory factory_ = [] { return std::make_unique<Reasoned>(); };
  FakePeers peers_;
  FakePlacer placer_;
  FakeAdoptions adoptions_;
  FakeBook book_;
  std::unique_ptr<SessionRoute> route_;
};

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
  peers_.answer = fcgi::CallResult::Kind::Failed;
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
  peers_.answer = fcgi::CallResult::Kind::NoAnswer;
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
  peers_.answer = fcgi::CallResult::Kind::Unreachable;
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

// ---- recovery after the owner died (issue 18)

TEST_F(SessionRouteTest, ADeadOwnersCheckpointIsRestoredHereUnderTheSameIdAtTheNextEpoch) {
  SessionId sid = dead_owner_with_checkpoint();
  Response r = get(token(sid, "h2", 1, unix_seconds(), 3));  // h2-1 is not in the directory
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(n_of(r), 42) << "the state as of the checkpoint, then the request";
  EXPECT_EQ(reason_of(r), "recovered");
  EXPECT_EQ(string_field(*parse_json(r.body), "order").value_or(""), "restore;start;");
  auto c = codec_.decode(set_cookie(r));
  ASSERT_TRUE(c.has_value()) << set_cookie_header(r);
  EXPECT_EQ(c->sid, sid);
  EXPECT_EQ(c->host, "h1");
  EXPECT_EQ(c->worker, 0);
  EXPECT_EQ(c->epoch, 4);
  EXPECT_EQ(book_.entries[sid].owner.host, "h1");
  EXPECT_EQ(pool_->stats().recovered.load(), 1u);
  EXPECT_EQ(pool_->stats().moved_in.load(), 0u);
  EXPECT_TRUE(peers_.calls.empty());

  Response again = get(codec_.encode(*c));  // the new cookie: served here, no new cookie
  EXPECT_EQ(n_of(again), 43);
  EXPECT_EQ(reason_of(again), "recovered");
  EXPECT_EQ(set_cookie(again), "");
  EXPECT_EQ(book_.recoveries, 1);
}

// The old cookie (naming the dead owner), forwarded here by a peer later: the recovered session.
TEST_F(SessionRouteTest, TheOldCookieOfARecoveredSessionFindsItHereAlsoFromAPeer) {
  SessionId sid = dead_owner_with_checkpoint();
  std::string old = token(sid, "h2", 1, unix_seconds(), 3);
  ASSERT_EQ(reason_of(get(old)), "recovered");
  Forwarded from{"h3-4", ""};
  Response r = get(old, &from);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(n_of(r), 43);
  EXPECT_EQ(reason_of(r), "recovered");
  EXPECT_EQ(codec_.decode(set_cookie(r))->epoch, 4);
  EXPECT_EQ(book_.recoveries, 1);
}

TEST_F(SessionRouteTest, ASilentOwnersSessionIsRecoveredAfterTheQuickTimeout) {
  SessionId sid = dead_owner_with_checkpoint();
  peers_.addrs["h2-1"] = "127.0.0.1:9001";
  peers_.answer = fcgi::CallResult::Kind::NoAnswer;
  Response r = get(token(sid, "h2", 1, unix_seconds(), 3));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(reason_of(r), "recovered");
  EXPECT_EQ(n_of(r), 42);
  EXPECT_EQ(peers_.calls.size(), 1u) << "one try at the owner, then recovered here";
}

TEST_F(SessionRouteTest, ARecoveryAnotherWorkerWonIsForwardedToTheWinner) {
  SessionId sid = dead_owner_with_checkpoint();
  book_.winner = registry::Owner{"h3", 4, "127.0.0.1:9004"};
  Response r = get(token(sid, "h2", 1, unix_seconds(), 3));
  EXPECT_EQ(r.body, "from 127.0.0.1:9004");
  ASSERT_EQ(peers_.calls.size(), 1u);
  EXPECT_EQ(peers_.calls[0].reason, "") << "the winner serves the session; it makes none";
  EXPECT_EQ(pool_->stats().live.load(), 0);
  EXPECT_EQ(pool_->stats().recovered.load(), 0u);
}

// The session had moved (a drain) to h3-4, which died too: recovered from h3-4's checkpoint.
TEST_F(SessionRouteTest, ASessionWhoseNewOwnerIsSilentTooIsRecoveredFromThatOwnersCheckpoint) {
  SessionId sid = dead_owner_with_checkpoint(record("h3", 4, 3));
  book_.entries[sid].owner = registry::Owner{"h3", 4, "127.0.0.1:9004"};
  peers_.answer = fcgi::CallResult::Kind::Unreachable;
  Response r = get(token(sid, "h2", 1, unix_seconds(), 2));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(reason_of(r), "recovered");
  EXPECT_EQ(n_of(r), 42);
  EXPECT_EQ(codec_.decode(set_cookie(r))->epoch, 4);
  EXPECT_EQ(book_.recoveries, 2);
}

TEST_F(SessionRouteTest, ADeadOwnerWithoutACheckpointStartsOverAsLostAndTheEntryStays) {
  SessionId sid = dead_owner_with_checkpoint();
  book_.records.erase(sid);
  Response r = get(token(sid, "h2", 1, unix_seconds(), 3));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(reason_of(r), "lost");
  EXPECT_EQ(n_of(r), 1);
  EXPECT_NE(codec_.decode(set_cookie(r))->sid, sid);
  EXPECT_EQ(book_.entries[sid].owner.host, "h2");
  EXPECT_EQ(book_.entries[sid].epoch, 3);
  EXPECT_EQ(book_.recoveries, 1);
}

// Each record the design's checks refuse: counted, no take-over, a new session (lost).
TEST_F(SessionRouteTest, ABadCheckpointRecordIsRefusedCountedAndTheSessionIsLost) {
  adoptions_.apps["notes"] = factory_;
  nlohmann::json v2 = *parse_json(record("h2", 1, 3));
  v2["v"] = 2;
  nlohmann::json no_state = *parse_json(record("h2", 1, 3));
  no_state.erase("state");
  nlohmann::json str_epoch = *parse_json(record("h2", 1, 3));
  str_epoch["epoch"] = "3";
  const std::vector<std::string> bad = {
      "not json",
      "[1,2]",
      std::string(200, '['),               // nested past the bound
      "{\"v\":1,\"app\":\"\xff\"}",      // invalid UTF-8, no fields
      v2.dump(),
      no_state.dump(),
      str_epoch.dump(),
      record("h2", 1, 2),                  // an older epoch than the entry's
      record("h2", 2, 3),                  // another worker
      record("h9", 1, 3),                  // another host
      record("h2", 1, 3, "nosuchapp"),     // no such session app here
  };
  for (const std::string& text : bad) {
    uint64_t before = firewall::refused_count(registry::kBadRecord);
    SessionId sid = dead_owner_with_checkpoint(text);
    Response r = get(token(sid, "h2", 1, unix_seconds(), 3));
    ASSERT_EQ(r.status, 200) << text;
    EXPECT_EQ(reason_of(r), "lost") << text;
    EXPECT_EQ(n_of(r), 1) << text;
    EXPECT_EQ(firewall::refused_count(registry::kBadRecord) - before, 1u) << text;
    EXPECT_EQ(book_.entries[sid].owner.host, "h2") << text;
    EXPECT_EQ(book_.entries[sid].epoch, 3) << text;
  }
  EXPECT_EQ(pool_->stats().recovered.load(), 0u);
}

TEST_F(SessionRouteTest, AStateTheAppRefusesToRestoreIsCountedAndTheSessionIsLost) {
  SessionId sid = dead_owner_with_checkpoint(record("h2", 1, 3, "notes", nlohmann::json{{"n", -5}}));
  Response r = get(token(sid, "h2", 1, unix_seconds(), 3));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(reason_of(r), "lost");
  EXPECT_NE(codec_.decode(set_cookie(r))->sid, sid);
  EXPECT_EQ(pool_->stats().restore_failed.load(), 1u);
  EXPECT_EQ(pool_->stats().recovered.load(), 0u);
}

TEST_F(SessionRouteTest, AForwardedRequestNeverRecovers) {
  SessionId sid = dead_owner_with_checkpoint();
  Forwarded from{"h3-4", ""};
  Response r = get(token(sid, "h2", 1, unix_seconds(), 3), &from);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(reason_of(r), "lost");
  EXPECT_EQ(book_.recoveries, 0);
  EXPECT_EQ(book_.entries[sid].owner.host, "h2");
}

TEST_F(SessionRouteTest, APeerCannotStartANewSessionAsRecovered) {
  Forwarded from{"h2-1", "recovered"};
  Response r = get("", &from);
  EXPECT_EQ(reason_of(r), "lost");
}

}  // namespace
}  // namespace tether
