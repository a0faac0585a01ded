// The "session" rule kind: decides which session a request belongs to from
// its tether_sid cookie, and where that session lives.
//   - the cookie names this worker: hand the request to the session's
//     thread, wait for the reply;
//   - it names another live worker: forward the request there and relay
//     the reply (a peer's request is never forwarded again);
//   - no usable cookie, or the owner is gone or silent for the quick
//     timeout: make a new session where placement says, and tell the app
//     why (new, invalid, expired, lost).
// Sets the cookie for a new session and clears it for an ended one.
//
// Spec: the name of a session app registered with App::session<T>(name).
// Thread safety: immutable after construction; serve() runs on acceptor
// threads concurrently (pool, codec, forwarder and placement are thread-safe).
#pragma once
#include "config/config.h"
#include "http/router.h"
#include "session/pool.h"
#include "token/token.h"

namespace tether {

inline constexpr const char* kSessionCookie = "tether_sid";

class Forwarder;
class Placement;

class SessionRoute final : public RouteHandler {
 public:
  SessionRoute(const SessionFactory* factory, const TokenCodec& codec, SessionPool& pool, const Config& config,
               Forwarder& forwarder, Placement& placement)
      : factory_(factory),
        codec_(codec),
        pool_(pool),
        config_(config),
        forwarder_(forwarder),
        placement_(placement) {}
  Response serve(Request& req, const RouteMatch& match) override;

 private:
  // Runs the request on this worker: the session sid if existing, else a new one.
  Response run_here(Request& req, bool existing, const SessionId& sid, StartReason reason);
  std::string cookie_header(const std::string& value, bool https, bool clear) const;

  const SessionFactory* factory_;
  const TokenCodec& codec_;
  SessionPool& pool_;
  const Config& config_;
  Forwarder& forwarder_;
  Placement& placement_;
};

// "lost" -> StartReason::Lost, ...; New for anything else.
StartReason parse_start_reason(const std::string& s);

}  // namespace tether
