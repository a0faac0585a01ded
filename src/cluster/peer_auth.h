// PeerAuth: proof that a FastCGI request was forwarded by a tether worker of
// this cluster, not sent by anyone who can reach a worker's socket.
//
// The forwarder adds params TETHER_PEER (its route), TETHER_TIME (unix ms),
// TETHER_CLIENT (the client's address), TETHER_REASON (why a new session, if
// one must be made) and TETHER_SIG = HMAC-SHA-256 over all of them plus the
// method, URI, session cookie and a BLAKE2b digest of the body, with a key
// derived from the token key file ("tether-peer-v1"). A request with any
// TETHER_ param is served only if the signature verifies with one of the
// keys and the time is within 30 s; otherwise it gets 403.
//
// The HMAC keys follow the codec's key set: when codec.keys() is a new set
// (SIGHUP read the key file again) they are derived again on next use.
//
// Thread safety: any thread; the derived keys are swapped under one mutex.
#pragma once
#include <sodium.h>

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fcgi/client.h"
#include "cluster/forwarded.h"
#include "http/router.h"
#include "tether/request.h"
#include "token/token.h"

namespace tether {

class PeerAuth {
 public:
  // session_cookie: the session cookie's name (config cookie_name), whose
  // value the proof covers.
  // The codec must outlive this PeerAuth (it is read on every use).
  explicit PeerAuth(const TokenCodec& codec, std::string session_cookie = "tether_sid");
  PeerAuth(TokenCodec&&, std::string = "") = delete;
  PeerAuth(const PeerAuth&) = delete;
  PeerAuth& operator=(const PeerAuth&) = delete;

  // The params to add when forwarding req on behalf of this worker.
  fcgi::Params sign(const Request& req, const std::string& my_route, const std::string& reason) const;
  // peer_params: the request's kPeerParamPrefix params (empty: not forwarded).
  // Error when they do not verify. On success req.remote_addr becomes the
  // original client's address.
  Result<Forwarded> verify(Request& req, const std::map<std::string, std::string>& peer_params) const;

 private:
  using Key = std::array<uint8_t, crypto_auth_hmacsha256_KEYBYTES>;
  std::string mac(const Key& key, const Request& req, const std::string& from, const std::string& time,
                  const std::string& client, const std::string& reason) const;
  struct Derived {  // from one KeySet, in its order: keys[0] signs
    std::shared_ptr<const KeySet> from;
    std::vector<Key> keys;
    ~Derived();
  };
  // The keys derived from codec_.keys() now (derived again when it changed).
  std::shared_ptr<const Derived> keys() const;
  const TokenCodec& codec_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<const Derived> derived_;
  std::string session_cookie_;
};

// Request params for forwarding req (the HTTP parts), without TETHER_ ones.
fcgi::Params request_params(const Request& req);

}  // namespace tether
