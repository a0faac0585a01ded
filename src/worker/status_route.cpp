// The "status" rule kind (see status_route.h).
#include "worker/status_route.h"

#include <unistd.h>

#include "common/clock.h"

namespace tether {

Result<std::unique_ptr<RouteHandler>> StatusRoute::make(const nlohmann::json& spec, StatusSources sources) {
  using R = Result<std::unique_ptr<RouteHandler>>;
  std::unique_ptr<StatusRoute> r(new StatusRoute(sources));
  r->allow_ = {"127.0.0.1", "::1"};
  if (!spec.is_object()) return R::error("expected an object, e.g. {} or {\"allow\": [\"10.0.0.5\"]}");
  if (spec.contains("allow")) {
    if (!spec["allow"].is_array()) return R::error("allow: expected an array of client addresses");
    for (const auto& a : spec["allow"]) {
      if (!a.is_string()) return R::error("allow: expected address strings, got " + a.dump());
      r->allow_.insert(a.get<std::string>());
    }
  }
  r->started_ = unix_seconds();
  return std::unique_ptr<RouteHandler>(std::move(r));
}

Response StatusRoute::serve(Request& req, const RouteMatch& /*match*/) {
  if (!allow_.count(req.remote_addr)) return Response::text("forbidden\n", 403);
  const auto& server = src_.server;
  const auto& sessions = src_.sessions;
  const auto& fwd = src_.forward;
  nlohmann::json j;
  j["host"] = src_.config.host;
  j["worker"] = src_.config.worker;
  j["pid"] = getpid();
  j["started"] = started_;
  j["requests"] = {{"accepted", server.accepted.load()},
                   {"in_flight", server.in_flight.load()},
                   {"too_large", server.too_large.load()},
                   {"broken", server.broken.load()},
                   {"write_failed", server.write_failed.load()},
                   {"abandoned", server.abandoned.load()}};
  j["acceptor_threads"] = {{"running", server.threads.load()}, {"at_max", server.at_max_threads.load()}};
  j["sessions"] = {{"live", sessions.live.load()},
                   {"created", sessions.created.load()},
                   {"requests", sessions.requests.load()},
                   {"handler_errors", sessions.handler_errors.load()},
                   {"ended", {{"idle", sessions.ended_idle.load()},
                              {"lifetime", sessions.ended_lifetime.load()},
                              {"app", sessions.ended_app.load()},
                              {"killed", sessions.ended_killed.load()},
                              {"shutdown", sessions.ended_shutdown.load()}}}};
  j["forward"] = {{"out", fwd.out.load()},
                  {"in", fwd.in.load()},
                  {"lost", fwd.lost.load()},
                  {"failed", fwd.failed.load()},
                  {"forged", fwd.forged.load()}};
  if (src_.registry != nullptr) {
    const RegistryStats& r = src_.registry->stats();
    auto dir = src_.registry->workers();
    j["redis"] = {{"up", r.up.load()},
                  {"workers_known", dir ? dir->size() : 0},
                  {"commands", r.commands.load()},
                  {"errors", r.errors.load()},
                  {"outages", r.outages.load()},
                  {"pending", r.pending.load()},
                  {"lost_ownership", r.lost_ownership.load()}};
  }
  for (const auto& [name, figures] : src_.sections) j[name] = figures();
  return Response::json(j.dump()).header("Cache-Control", "no-store");
}

}  // namespace tether
