// Tests PeerAuth (src/cluster/peer_auth): signing and verifying forwarded requests, key rotation, and request_params.
#include <gtest/gtest.h>
#include <sodium.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "token/token.h"
#include "cluster/peer_auth.h"

namespace tether {
namespace {

using ParamMap = std::map<std::string, std::string>;

class PeerAuthTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }

  static std::array<uint8_t, kTokenKeyBytes> random_bytes() {
    std::array<uint8_t, kTokenKeyBytes> b;
    randombytes_buf(b.data(), b.size());
    return b;
  }
  static TokenCodec codec(const std::vector<std::array<uint8_t, kTokenKeyBytes>>& keys) {
    std::vector<TokenKey> k;
    for (const auto& b : keys) k.emplace_back(b.data());
    auto r = TokenCodec::from_keys(std::move(k));
    if (!r) throw std::runtime_error(r.message());
    return std::move(r.value());
  }
  // Two keys with different key ids, so one codec may hold both.
  static void two_keys(std::array<uint8_t, kTokenKeyBytes>* a, std::array<uint8_t, kTokenKeyBytes>* b) {
    *a = random_bytes();
    do *b = random_bytes();
    while (TokenKey(a->data()).id() == TokenKey(b->data()).id());
  }
  static Request request() {
    Request r;
    r.method = "POST";
    r.path = "/n/3";
    r.query = "a=1";
    r.body = std::string("note\0body", 9);
    r.remote_addr = "203.0.113.7";
    r.cookies["tether_sid"] = "h1-2.AAAA";
    r.cookies["other"] = "x";
    r.headers["x-foo"] = "bar";
    return r;
  }
  static ParamMap as_map(const fcgi::Params& p) { return ParamMap(p.begin(), p.end()); }
  static int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // The MAC as peer_auth.h describes it, computed independently: key =
  // BLAKE2b-256(message "tether-peer-v1", key = token key); HMAC-SHA-256 over
  // length-prefixed from, time, client, reason, method, URI, session cookie and BLAKE2b(body).
  static std::string reference_sig(const uint8_t* token_key, const Request& req, const std::string& from,
                                   const std::string& time, const std::string& client, const std::string& reason) {
    uint8_t key[crypto_auth_hmacsha256_KEYBYTES];
    const char ctx[] = "tether-peer-v1";
    crypto_generichash(key, sizeof key, reinterpret_cast<const uint8_t*>(ctx), sizeof ctx - 1, token_key,
                       kTokenKeyBytes);
    uint8_t body_hash[32];
    crypto_generichash(body_hash, sizeof body_hash, reinterpret_cast<const uint8_t*>(req.body.data()), req.body.size(),
                       nullptr, 0);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, sizeof key);
    const std::string uri = req.query.empty() ? req.path : req.path + "?" + req.query;
    const std::string cookie(req.cookie("tether_sid"));
    const std::string hash(reinterpret_cast<const char*>(body_hash), sizeof body_hash);
    for (const std::string* f : {&from, &time, &client, &reason, &req.method, &uri, &cookie, &hash}) {
      uint64_t n = f->size();
      crypto_auth_hmacsha256_update(&st, reinterpret_cast<const uint8_t*>(&n), sizeof n);
      crypto_auth_hmacsha256_update(&st, reinterpret_cast<const uint8_t*>(f->data()), f->size());
    }
    uint8_t out[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_final(&st, out);
    char hex[2 * sizeof out + 1];
    sodium_bin2hex(hex, sizeof hex, out, sizeof out);
    return hex;
  }
  static ParamMap reference_params(const uint8_t* token_key, const Request& req, int64_t time_ms) {
    std::string time = std::to_string(time_ms);
    return {{"TETHER_PEER", "h1-2"},
            {"TETHER_TIME", time},
            {"TETHER_CLIENT", req.remote_addr},
            {"TETHER_REASON", "lost"},
            {"TETHER_SIG", reference_sig(token_key, req, "h1-2", time, req.remote_addr, "lost")}};
  }
};

TEST_F(PeerAuthTest, SignThenVerifyRoundTrips) {
  TokenCodec c = codec({random_bytes()});
  PeerAuth auth(c);
  Request req = request();
  fcgi::Params p = auth.sign(req, "h1-2", "lost");
  ParamMap m = as_map(p);
  EXPECT_EQ(m.size(), 5u);
  EXPECT_EQ(m["TETHER_PEER"], "h1-2");
  EXPECT_EQ(m["TETHER_CLIENT"], "203.0.113.7");
  EXPECT_EQ(m["TETHER_REASON"], "lost");
  EXPECT_EQ(m["TETHER_SIG"].size(), 64u);
  EXPECT_NEAR(static_cast<double>(std::stoll(m["TETHER_TIME"])), static_cast<double>(unix_ms()), 5000.0);

  Request at_owner = request();
  at_owner.remote_addr = "unix:";  // as the owner sees the forwarding worker
  auto f = auth.verify(at_owner, m);
  ASSERT_TRUE(f) << f.message();
  EXPECT_EQ(f->from, "h1-2");
  EXPECT_EQ(f->reason, "lost");
  EXPECT_EQ(at_owner.remote_addr, "203.0.113.7");
}

// With cookie_name set, the proof covers that cookie: changing it breaks the
// proof, and the default name is no longer what is signed.
TEST_F(PeerAuthTest, TheConfiguredSessionCookieIsSigned) {
  TokenCodec c = codec({random_bytes()});
  PeerAuth auth(c, "a_sid");
  Request req = request();
  req.cookies["a_sid"] = "h1-2.AAAA";
  ParamMap m = as_map(auth.sign(req, "h1-2", "lost"));
  Request same = req;
  EXPECT_TRUE(auth.verify(same, m));
  Request changed = req;
  changed.cookies["a_sid"] = "h1-2.AAAB";
  EXPECT_FALSE(auth.verify(changed, m));
}

TEST_F(PeerAuthTest, SignatureMatchesTheDocumentedConstruction) {
  auto key = random_bytes();
  TokenCodec c = codec({key});  // outlives auth, which follows its keys
  PeerAuth auth(c);
  Request req = request();
  ParamMap m = as_map(auth.sign(req, "h1-2", "lost"));
  EXPECT_EQ(m["TETHER_SIG"], reference_sig(key.data(), req, "h1-2", m["TETHER_TIME"], req.remote_addr, "lost"));
  Request again = request();
  ASSERT_TRUE(auth.verify(again, reference_params(key.data(), again, unix_ms())));
}

TEST_F(PeerAuthTest, ChangingAnySignedPartFails) {
  TokenCodec c = codec({random_bytes()});  // outlives auth, which follows its keys
  PeerAuth auth(c);
  const Request signed_req = request();
  const ParamMap good = as_map(auth.sign(signed_req, "h1-2", "lost"));
  {
    Request req = signed_req;
    ASSERT_TRUE(auth.verify(req, good));  // the unchanged request passes
  }
  const std::vector<std::pair<std::string, std::function<void(Request&, ParamMap&)>>> changes = {
      {"method", [](Request& r, ParamMap&) { r.method = "GET"; }},
      {"path", [](Request& r, ParamMap&) { r.path = "/n/4"; }},
      {"query", [](Request& r, ParamMap&) { r.query = "a=2"; }},
      {"no query", [](Request& r, ParamMap&) { r.query.clear(); }},
      {"body", [](Request& r, ParamMap&) { r.body.back() = 'x'; }},
      {"cookie", [](Request& r, ParamMap&) { r.cookies["tether_sid"] = "h1-2.AAAB"; }},
      {"no cookie", [](Request& r, ParamMap&) { r.cookies.erase("tether_sid"); }},
      {"TETHER_PEER", [](Request&, ParamMap& p) { p["TETHER_PEER"] = "h9-9"; }},
      {"TETHER_CLIENT", [](Request&, ParamMap& p) { p["TETHER_CLIENT"] = "198.51.100.1"; }},
      {"TETHER_REASON", [](Request&, ParamMap& p) { p["TETHER_REASON"] = ""; }},
      {"TETHER_TIME",
       [](Request&, ParamMap& p) { p["TETHER_TIME"] = std::to_string(std::stoll(p["TETHER_TIME"]) - 1); }},
      {"TETHER_SIG", [](Request&, ParamMap& p) { p["TETHER_SIG"][0] = p["TETHER_SIG"][0] == 'a' ? 'b' : 'a'; }},
  };
  for (const auto& [what, change] : changes) {
    SCOPED_TRACE(what);
    Request req = signed_req;
    req.remote_addr = "unix:";
    ParamMap p = good;
    change(req, p);
    EXPECT_FALSE(auth.verify(req, p));
    EXPECT_EQ(req.remote_addr, "unix:");  // unchanged on failure
  }
}

TEST_F(PeerAuthTest, UnrelatedKeyFails) {
  TokenCodec mine_c = codec({random_bytes()}), theirs_c = codec({random_bytes()});
  PeerAuth mine(mine_c), theirs(theirs_c);
  Request req = request();
  ParamMap p = as_map(theirs.sign(req, "h1-2", ""));
  auto r = mine.verify(req, p);
  EXPECT_FALSE(r);
  EXPECT_EQ(req.remote_addr, "203.0.113.7");
}

TEST_F(PeerAuthTest, RotationVerifiesWithTheOldKeyAndSignsWithTheNew) {
  std::array<uint8_t, kTokenKeyBytes> old_key, new_key;
  two_keys(&old_key, &new_key);
  TokenCodec old_c = codec({old_key}), rotated_c = codec({new_key, old_key}), new_c = codec({new_key});
  PeerAuth old_only(old_c), rotated(rotated_c), new_only(new_c);
  Request req = request();
  ParamMap from_old = as_map(old_only.sign(req, "h1-2", ""));
  ASSERT_TRUE(rotated.verify(req, from_old));
  EXPECT_FALSE(new_only.verify(req, from_old));
  ParamMap from_rotated = as_map(rotated.sign(req, "h1-3", ""));
  EXPECT_TRUE(new_only.verify(req, from_rotated));  // keys[0] signs
  EXPECT_FALSE(old_only.verify(req, from_rotated));
}

// The live rotation (SIGHUP: TokenCodec::replace): the same PeerAuth signs
// and verifies with the codec's key set of the moment, not the one it was
// made with.
TEST_F(PeerAuthTest, FollowsTheCodecsKeysWhenTheyAreReplaced) {
  std::array<uint8_t, kTokenKeyBytes> old_key, new_key;
  two_keys(&old_key, &new_key);
  TokenCodec live = codec({old_key}), old_c = codec({old_key}), new_c = codec({new_key});
  PeerAuth auth(live), old_only(old_c), new_only(new_c);
  Request req = request();
  ParamMap from_old = as_map(old_only.sign(req, "h1-2", ""));
  ParamMap from_new = as_map(new_only.sign(req, "h1-3", ""));
  ASSERT_TRUE(auth.verify(req, from_old));
  EXPECT_FALSE(auth.verify(req, from_new));
  // Step 1: the new key verify-only. Signs with the old, opens both.
  auto step1 = KeySet::make({TokenKey(old_key.data()), TokenKey(new_key.data(), true)});
  ASSERT_TRUE(step1) << step1.message();
  live.replace(step1.value());
  EXPECT_TRUE(auth.verify(req, from_new));
  EXPECT_TRUE(old_only.verify(req, as_map(auth.sign(req, "h1-4", ""))));
  // Step 2: the new key seals, the old one verify-only.
  auto step2 = KeySet::make({TokenKey(old_key.data(), true), TokenKey(new_key.data())});
  ASSERT_TRUE(step2) << step2.message();
  live.replace(step2.value());
  ParamMap signed2 = as_map(auth.sign(req, "h1-4", ""));
  EXPECT_TRUE(new_only.verify(req, signed2));
  EXPECT_FALSE(old_only.verify(req, signed2));
  EXPECT_TRUE(auth.verify(req, from_old));
  // Step 3: the old key dropped.
  auto step3 = KeySet::make({TokenKey(new_key.data())});
  ASSERT_TRUE(step3) << step3.message();
  live.replace(step3.value());
  EXPECT_FALSE(auth.verify(req, from_old));
  EXPECT_TRUE(auth.verify(req, from_new));
}

TEST_F(PeerAuthTest, TimeOutsideThirtySecondsFails) {
  auto key = random_bytes();
  TokenCodec c = codec({key});  // outlives auth, which follows its keys
  PeerAuth auth(c);
  Request req = request();
  int64_t now = unix_ms();
  EXPECT_TRUE(auth.verify(req, reference_params(key.data(), req, now - 20000)));
  EXPECT_FALSE(auth.verify(req, reference_params(key.data(), req, now - 60000)));
  EXPECT_FALSE(auth.verify(req, reference_params(key.data(), req, now + 60000)));
  EXPECT_FALSE(auth.verify(req, reference_params(key.data(), req, 0)));
}

TEST_F(PeerAuthTest, MissingParamsFail) {
  TokenCodec c = codec({random_bytes()});  // outlives auth, which follows its keys
  PeerAuth auth(c);
  Request req = request();
  const ParamMap good = as_map(auth.sign(req, "h1-2", "lost"));
  for (const char* name : {"TETHER_SIG", "TETHER_PEER", "TETHER_TIME", "TETHER_CLIENT", "TETHER_REASON"}) {
    SCOPED_TRACE(name);
    ParamMap p = good;
    p.erase(name);
    EXPECT_FALSE(auth.verify(req, p));
  }
  EXPECT_FALSE(auth.verify(req, {}));
  ParamMap short_sig = good;
  short_sig["TETHER_SIG"].pop_back();
  EXPECT_FALSE(auth.verify(req, short_sig));
}

// Regression: mac() once viewed a temporary URI string that died before the
// loop read it, so URIs of 16 bytes or more were signed over freed memory.
TEST_F(PeerAuthTest, LongUriRoundTripsAndMatchesTheReference) {
  auto key = random_bytes();
  TokenCodec c = codec({key});  // outlives auth, which follows its keys
  PeerAuth auth(c);
  Request req = request();
  req.path = "/notes/a-rather-long-path-that-does-not-fit-in-a-small-string/42";
  req.query = "page=3&sort=created&filter=" + std::string(200, 'q');
  req.body = std::string(100000, 'b');
  ParamMap m = as_map(auth.sign(req, "h1-2", ""));
  EXPECT_EQ(m["TETHER_SIG"], reference_sig(key.data(), req, "h1-2", m["TETHER_TIME"], req.remote_addr, ""));
  Request at_owner = req;
  EXPECT_TRUE(auth.verify(at_owner, m));
  at_owner.path.back() = '3';
  EXPECT_FALSE(auth.verify(at_owner, m));
}

TEST_F(PeerAuthTest, RequestParamsCarryTheHttpParts) {
  Request req = request();
  req.headers["content-type"] = "application/x-www-form-urlencoded";
  req.headers["content-length"] = "9";
  req.headers["accept-language"] = "en";
  ParamMap p = as_map(request_params(req));
  EXPECT_EQ(p["REQUEST_METHOD"], "POST");
  EXPECT_EQ(p["REQUEST_URI"], "/n/3?a=1");
  EXPECT_EQ(p["DOCUMENT_URI"], "/n/3");
  EXPECT_EQ(p["QUERY_STRING"], "a=1");
  EXPECT_EQ(p["CONTENT_LENGTH"], "9");
  EXPECT_EQ(p["CONTENT_TYPE"], "application/x-www-form-urlencoded");
  EXPECT_EQ(p["HTTP_X_FOO"], "bar");
  EXPECT_EQ(p["HTTP_ACCEPT_LANGUAGE"], "en");
  EXPECT_EQ(p["REMOTE_ADDR"], "203.0.113.7");
  EXPECT_EQ(p.count("HTTP_CONTENT_LENGTH"), 0u);
  EXPECT_EQ(p.count("HTTP_CONTENT_TYPE"), 0u);
  EXPECT_EQ(p.count("HTTPS"), 0u);
  for (const auto& [name, value] : p) EXPECT_NE(name.rfind("TETHER_", 0), 0u) << name;
}

TEST_F(PeerAuthTest, RequestParamsWithoutQueryOrBody) {
  Request req;
  req.method = "GET";
  req.path = "/";
  req.https = true;
  ParamMap p = as_map(request_params(req));
  EXPECT_EQ(p["REQUEST_URI"], "/");
  EXPECT_EQ(p["QUERY_STRING"], "");
  EXPECT_EQ(p["CONTENT_LENGTH"], "0");
  EXPECT_EQ(p["HTTPS"], "on");
  EXPECT_EQ(p.count("CONTENT_TYPE"), 0u);
}

}  // namespace
}  // namespace tether
