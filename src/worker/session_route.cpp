// The "session" rule kind (see session_route.h).
#include "worker/session_route.h"

#include <chrono>

#include "common/clock.h"

namespace tether {

std::string SessionRoute::cookie_header(const std::string& value, bool https, bool clear) const {
  std::string h = std::string(kSessionCookie) + "=" + value + "; Path=/; HttpOnly; SameSite=Lax";
  if (https) h += "; Secure";
  if (clear) h += "; Max-Age=0";
  return h;
}

Response SessionRoute::serve(Request& req, const RouteMatch& /*match*/) {
  auto job = std::make_shared<SessionJob>();
  job->factory = factory_;
  std::string_view cookie = req.cookie(kSessionCookie);
  if (cookie.empty()) {
    job->reason_if_new = StartReason::New;
  } else if (auto claims = codec_.decode(cookie)) {
    int64_t now = unix_seconds();
    if (claims->issued + config_.lifetime_s < now || claims->issued > now + 300) {
      job->reason_if_new = StartReason::Expired;
    } else if (claims->host == config_.host && claims->worker == config_.worker) {
      job->existing = true;
      job->sid = claims->sid;
    } else {
      job->reason_if_new = StartReason::Lost;  // another worker's session: no route to it here
    }
  } else {
    job->reason_if_new = StartReason::Invalid;
  }
  if (!job->existing) job->sid = SessionId::random();
  bool https = req.https;
  job->request = std::move(req);
  if (!pool_.post(job)) return Response::text("worker is shutting down\n", 503);
  if (!job->done.try_acquire_for(std::chrono::seconds(config_.request_timeout_s))) {
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
