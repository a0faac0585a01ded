// The "session" rule kind (see session_route.h).
#include "worker/session_route.h"

#include <chrono>

#include "common/clock.h"
#include "common/log.h"
#include "worker/forwarder.h"
#include "worker/placement.h"

namespace tether {

StartReason parse_start_reason(const std::string& s) {
  if (s == "invalid") return StartReason::Invalid;
  if (s == "expired") return StartReason::Expired;
  if (s == "lost") return StartReason::Lost;
  return StartReason::New;
}

std::string SessionRoute::cookie_header(const std::string& value, bool https, bool clear) const {
  std::string h = std::string(kSessionCookie) + "=" + value + "; Path=/; HttpOnly; SameSite=Lax";
  if (https) h += "; Secure";
  if (clear) h += "; Max-Age=0";
  return h;
}

Response SessionRoute::serve(Request& req, const RouteMatch& match) {
  const Forwarded* from_peer = match.forwarded;
  StartReason reason = StartReason::New;
  std::string_view cookie = req.cookie(kSessionCookie);
  if (!cookie.empty()) {
    auto claims = codec_.decode(cookie);
    int64_t now = unix_seconds();
    if (!claims) {
      reason = StartReason::Invalid;
    } else if (claims->issued + config_.lifetime_s < now || claims->issued > now + 300) {
      reason = StartReason::Expired;
    } else if (claims->host == config_.host && claims->worker == config_.worker) {
      return run_here(req, true, claims->sid, StartReason::Expired);
    } else if (from_peer != nullptr) {
      reason = StartReason::Lost;  // a peer thought it was ours: never forward twice
    } else {
      std::string addr = forwarder_.address_of(claims->host, claims->worker);
      if (!addr.empty()) {
        fcgi::CallResult r = forwarder_.forward(addr, req, "");
        if (r.kind == fcgi::CallResult::Kind::Ok) return std::move(r.response);
        if (r.kind == fcgi::CallResult::Kind::Failed) {
          // The owner took the request and then failed: it may have run, so
          // no new session; the client may retry.
          log::warn("forward_failed", {{"owner", addr}, {"error", r.error}});
          return Response::text("the session's worker failed during the request\n", 502);
        }
      }
      reason = StartReason::Lost;  // gone, or silent for the quick timeout
    }
  }
  if (from_peer != nullptr && !from_peer->reason.empty()) reason = parse_start_reason(from_peer->reason);
  if (from_peer == nullptr) {
    auto target = placement_.choose(req);
    if (!target) return Response::text(target.message() + "\n", 503);
    if (!target->empty()) {
      fcgi::CallResult r = forwarder_.forward(*target, req, to_string(reason));
      if (r.kind == fcgi::CallResult::Kind::Ok) return std::move(r.response);
      if (r.kind == fcgi::CallResult::Kind::Failed) return Response::text("the chosen worker failed\n", 502);
      if (!config_.accept_sessions) return Response::text("no worker answered to take the session\n", 503);
      // The chosen worker is silent: make the session here instead.
    }
  }
  return run_here(req, false, SessionId::random(), reason);
}

Response SessionRoute::run_here(Request& req, bool existing, const SessionId& sid, StartReason reason) {
  auto job = std::make_shared<SessionJob>();
  job->factory = factory_;
  job->existing = existing;
  job->sid = sid;
  job->reason_if_new = reason;
  bool https = req.https;
  job->request = std::move(req);
  if (!pool_.post(job)) return Response::text("worker is shutting down\n", 503);
  if (!job->wait_for(std::chrono::seconds(config_.request_timeout_s))) {
    job->abandoned.store(true, std::memory_order_release);
    return Response::text("session busy: no reply in time\n", 504);
  }
  Response resp = std::move(job->response);
  if (job->ended) {
    resp.header("Set-Cookie", cookie_header("", https, true));
  } else if (job->created) {
    TokenClaims c{job->created_sid, config_.host, config_.worker, unix_seconds()};
    resp.header("Set-Cookie", cookie_header(codec_.encode(c), https, false));
  }
  return resp;
}

}  // namespace tether
