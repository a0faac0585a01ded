// The session route's unit-test fixture (tests/unit/cluster/session_route_test.cpp,
// session_recovery_route_test.cpp): fakes for its collaborators
// (route_parts.h, registry/owner_book.h) and a real session pool and token
// codec. The fake OwnerBook decides recoveries as Registry::recover does,
// with the real record checks (registry/recovery.h).
// Thread ownership: the test's thread (the pool's threads run the sessions).
#pragma once
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

namespace tether::route_test {

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
  CallResult::Kind answer = CallResult::Kind::Ok;
  struct Call {
    std::string addr, reason, path;
  };
  std::vector<Call> calls;
  std::string address_of(const std::string& host, int worker) const override {
    auto it = addrs.find(host + "-" + std::to_string(worker));
    return it == addrs.end() ? "" : it->second;
  }
  CallResult forward(const std::string& addr, const Request& req, const std::string& reason) override {
    calls.push_back({addr, reason, req.path});
    CallResult r;
    r.kind = answer;
    if (answer == CallResult::Kind::Ok) r.response = Response::text("from " + addr);
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

}  // namespace tether::route_test
