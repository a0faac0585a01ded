// The "session" rule kind: decides which session a request belongs to from
// its tether_sid cookie, hands it to that session's thread, waits for the
// reply, and sets or clears the cookie.
//
// Spec: the name of a session app registered with App::session<T>(name).
// Thread safety: immutable after construction; serve() runs on acceptor
// threads concurrently (the pool and codec are thread-safe).
#pragma once
#include "config/config.h"
#include "http/router.h"
#include "session/pool.h"
#include "token/token.h"

namespace tether {

inline constexpr const char* kSessionCookie = "tether_sid";

class SessionRoute final : public RouteHandler {
 public:
  SessionRoute(const SessionFactory* factory, const TokenCodec& codec, SessionPool& pool, const Config& config)
      : factory_(factory), codec_(codec), pool_(pool), config_(config) {}
  Response serve(Request& req, const RouteMatch& match) override;

 private:
  std::string cookie_header(const std::string& value, bool https, bool clear) const;

  const SessionFactory* factory_;
  const TokenCodec& codec_;
  SessionPool& pool_;
  const Config& config_;
};

}  // namespace tether
