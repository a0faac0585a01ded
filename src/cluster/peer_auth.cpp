// Signing and verifying forwarded requests (see peer_auth.h).
#include "cluster/peer_auth.h"

#include <chrono>
#include <cstring>

#include "common/clock.h"
#include "http/parse.h"
#include "cluster/session_route.h"

namespace tether {
namespace {

constexpr int64_t kMaxSkewMs = 30000;
constexpr const char kContext[] = "tether-peer-v1";

void add_field(crypto_auth_hmacsha256_state* st, std::string_view v) {
  // Length-prefixed, so no two different field lists hash alike.
  uint64_t n = v.size();
  crypto_auth_hmacsha256_update(st, reinterpret_cast<const uint8_t*>(&n), sizeof n);
  crypto_auth_hmacsha256_update(st, reinterpret_cast<const uint8_t*>(v.data()), v.size());
}

std::string uri_of(const Request& req) { return req.query.empty() ? req.path : req.path + "?" + req.query; }

}  // namespace

PeerAuth::PeerAuth(const TokenCodec& codec, std::string session_cookie)
    : codec_(codec), session_cookie_(std::move(session_cookie)) {}

PeerAuth::Derived::~Derived() {
  for (auto& k : keys) sodium_memzero(k.data(), k.size());
}

std::shared_ptr<const PeerAuth::Derived> PeerAuth::keys() const {
  std::shared_ptr<const KeySet> now = codec_.keys();
  std::lock_guard lock(mu_);
  if (derived_ && derived_->from == now) return derived_;
  auto d = std::make_shared<Derived>();
  d->from = now;
  for (const auto& k : now->keys) {
    Key key;
    crypto_generichash(key.data(), key.size(), reinterpret_cast<const uint8_t*>(kContext), sizeof kContext - 1,
                       k.bytes(), kTokenKeyBytes);
    d->keys.push_back(key);
    sodium_memzero(key.data(), key.size());
  }
  derived_ = std::move(d);
  return derived_;
}

std::string PeerAuth::mac(const Key& key, const Request& req, const std::string& from, const std::string& time,
                          const std::string& client, const std::string& reason) const {
  uint8_t body_hash[32];
  crypto_generichash(body_hash, sizeof body_hash, reinterpret_cast<const uint8_t*>(req.body.data()), req.body.size(),
                     nullptr, 0);
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key.data(), key.size());
  const std::string uri = uri_of(req);  // named: a temporary would die before the loop body
  for (std::string_view f : {std::string_view(from), std::string_view(time), std::string_view(client),
                             std::string_view(reason), std::string_view(req.method), std::string_view(uri),
                             req.cookie(session_cookie_)}) {
    add_field(&st, f);
  }
  add_field(&st, std::string_view(reinterpret_cast<const char*>(body_hash), sizeof body_hash));
  uint8_t out[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&st, out);
  char hex[2 * sizeof out + 1];
  sodium_bin2hex(hex, sizeof hex, out, sizeof out);
  return std::string(hex, 2 * sizeof out);
}

fcgi::Params PeerAuth::sign(const Request& req, const std::string& my_route, const std::string& reason) const {
  std::string time = std::to_string(unix_millis());
  fcgi::Params p;
  p.emplace_back("TETHER_PEER", my_route);
  p.emplace_back("TETHER_TIME", time);
  p.emplace_back("TETHER_CLIENT", req.remote_addr);
  p.emplace_back("TETHER_REASON", reason);
  p.emplace_back("TETHER_SIG", mac(keys()->keys.front(), req, my_route, time, req.remote_addr, reason));
  return p;
}

Result<Forwarded> PeerAuth::verify(Request& req, const std::map<std::string, std::string>& params) const {
  auto get = [&](const char* k) {
    auto it = params.find(k);
    return it == params.end() ? std::string() : it->second;
  };
  std::string from = get("TETHER_PEER"), time = get("TETHER_TIME"), client = get("TETHER_CLIENT"),
              reason = get("TETHER_REASON"), sig = get("TETHER_SIG");
  if (from.empty() || time.empty() || sig.size() != 64) return Status::error("incomplete peer params");
  int64_t t = atoll(time.c_str());
  if (std::llabs(unix_millis() - t) > kMaxSkewMs) return Status::error("peer signature too old or from the future");
  bool ok = false;
  std::shared_ptr<const Derived> keys = this->keys();
  for (const auto& key : keys->keys) {
    std::string expect = mac(key, req, from, time, client, reason);
    ok |= sodium_memcmp(expect.data(), sig.data(), expect.size()) == 0;
  }
  if (!ok) return Status::error("bad peer signature");
  req.remote_addr = client;
  return Forwarded{from, reason};
}

fcgi::Params request_params(const Request& req) {
  fcgi::Params p;
  p.emplace_back("REQUEST_METHOD", req.method);
  p.emplace_back("REQUEST_URI", uri_of(req));
  p.emplace_back("DOCUMENT_URI", req.path);
  p.emplace_back("QUERY_STRING", req.query);
  p.emplace_back("CONTENT_LENGTH", std::to_string(req.body.size()));
  p.emplace_back("REMOTE_ADDR", req.remote_addr);
  if (req.https) p.emplace_back("HTTPS", "on");
  for (const auto& [name, value] : req.headers) {
    if (name == "content-length") continue;
    if (name == "content-type") {
      p.emplace_back("CONTENT_TYPE", value);
      continue;
    }
    std::string param = "HTTP_";
    for (char c : name) param.push_back(c == '-' ? '_' : static_cast<char>(toupper(static_cast<unsigned char>(c))));
    p.emplace_back(std::move(param), value);
  }
  return p;
}

}  // namespace tether
