// The "status" rule kind (see status_route.h).
#include "ops/status_route.h"

#include <unistd.h>

#include <algorithm>

#include "common/clock.h"
#include "common/firewall.h"
#include "common/json.h"
#include "ops/fleet.h"
#include "ops/metrics.h"

namespace tether {

Result<std::unique_ptr<RouteHandler>> StatusRoute::make(const nlohmann::json& spec, StatusSources sources) {
  auto gate = OpsGate::parse(spec);
  if (!gate) return gate.status();
  std::unique_ptr<StatusRoute> r(new StatusRoute(sources, std::move(gate.value())));
  if (r->src_.started == 0) r->src_.started = unix_seconds();
  return std::unique_ptr<RouteHandler>(std::move(r));
}

nlohmann::json status_json(const StatusSources& src) {
  const auto& server = src.server;
  const auto& sessions = src.sessions;
  const auto& fwd = src.forward;
  nlohmann::json j;
  j["host"] = src.config.host;
  j["worker"] = src.config.worker;
  j["pid"] = getpid();
  j["started"] = src.started;
  j["requests"] = {{"accepted", server.accepted.load()},
                   {"in_flight", server.in_flight.load()},
                   {"too_large", server.too_large.load()},
                   {"params_too_large", server.params_too_large.load()},
                   {"broken", server.broken.load()},
                   {"write_failed", server.write_failed.load()},
                   {"abandoned", server.abandoned.load()},
                   {"failed", server.failed.load()},
                   {"slow", src.slow_requests ? src.slow_requests->load() : 0}};
  int running = server.threads.load();
  int active = std::min(running, server.in_flight.load());
  j["acceptor_threads"] = {{"running", running},
                           {"active", active},
                           {"idle", running - active},
                           {"at_max", server.at_max_threads.load()}};
  j["sessions"] = {{"live", sessions.live.load()},
                   {"created", sessions.created.load()},
                   {"requests", sessions.requests.load()},
                   {"handler_errors", sessions.handler_errors.load()},
                   {"moved_in", sessions.moved_in.load()},
                   {"moved_out", sessions.moved_out.load()},
                   {"recovered", sessions.recovered.load()},
                   {"restore_failed", sessions.restore_failed.load()},
                   {"hibernated", sessions.hibernated.load()},
                   {"hibernations", sessions.hibernations.load()},
                   {"woken", sessions.woken.load()},
                   {"wake_failed", sessions.wake_failed.load()},
                   {"hibernate_deferred", sessions.hibernate_deferred.load()},
                   {"max_live", src.config.max_live_sessions},
                   {"rotated", sessions.rotated.load()},
                   {"dropped_stale", sessions.dropped_stale.load()},
                   {"max", src.config.max_sessions},
                   {"max_queued_per_session", src.config.max_queued_per_session},
                   {"refused", {{"full", sessions.refused_full.load()}, {"queued", sessions.refused_queued.load()},
                                {"stale", sessions.refused_stale.load()}}},
                   {"ended", {{"idle", sessions.ended_idle.load()},
                              {"lifetime", sessions.ended_lifetime.load()},
                              {"app", sessions.ended_app.load()},
                              {"killed", sessions.ended_killed.load()},
                              {"shutdown", sessions.ended_shutdown.load()},
                              {"drained", sessions.ended_drained.load()}}}};
  j["forward"] = {{"out", fwd.out.load()},
                  {"in", fwd.in.load()},
                  {"lost", fwd.lost.load()},
                  {"failed", fwd.failed.load()}};
  if (src.registry != nullptr) {
    const RegistryStats& r = src.registry->stats();
    auto dir = src.registry->workers();
    j["redis"] = {{"up", r.up.load()},
                  {"workers_known", dir ? dir->size() : 0},
                  {"commands", r.commands.load()},
                  {"errors", r.errors.load()},
                  {"outages", r.outages.load()},
                  {"pending", r.pending.load()},
                  {"lost_ownership", r.lost_ownership.load()},
                  {"stalls", r.stalls.load()}};
  }
  for (const auto& [name, figures] : src.sections) j[name] = figures();
  j["errors"] = firewall::stats_json();  // exceptions caught and inputs refused, by place and kind
  return j;
}

Result<std::vector<registry::Figures>> fleet_status(const StatusSources& src, const std::string& scope) {
  using R = Result<std::vector<registry::Figures>>;
  if (!src.config.registry || src.registry == nullptr) {
    return R::error("scope=" + scope + " reads the other workers from Redis: no \"redis\" configured");
  }
  auto redis = src.registry->redis_pool().acquire();
  if (Status s = redis->connect(); !s) return s;
  auto all = fleet::read(*redis, src.config.heartbeat_ms, scope == "host" ? src.config.host : "");
  if (!all) return all;
  auto mine = registry::Figures::own(status_json(src));
  if (!mine) return R::error("this worker's own figures: " + mine.message());
  bool found = false;
  for (auto& w : *all) {
    if (w.host() == mine->host() && w.worker() == mine->worker()) {
      w.update_from(*mine);  // current, not a heartbeat old
      found = true;
    }
  }
  if (!found) all->push_back(std::move(mine.value()));  // not in the directory yet, or draining
  return all;
}

Response StatusRoute::serve(Request& req, const RouteMatch& match) {
  Response r = Response::text("the status figures failed; see the log\n", 500);
  firewall::guard("status.request", [&] { r = serve_checked(req, match); });
  return r;
}

Response StatusRoute::serve_checked(Request& req, const RouteMatch& match) {
  if (auto refused = gate_.check("status", req, match)) return std::move(*refused);
  auto format = metrics::parse_format(req.query_param("format"));
  if (!format) return Response::text(format.message() + "\n", 400);
  std::string scope = req.query_param("scope");
  std::vector<registry::Figures> workers;
  nlohmann::json body;
  if (scope.empty() || scope == "worker") {
    body = status_json(src_);
    if (*format == metrics::Format::Prometheus) {
      auto mine = registry::Figures::own(body);
      if (!mine) return Response::text("this worker's own figures: " + mine.message() + "\n", 500);
      workers.push_back(std::move(mine.value()));
    }
  } else if (scope == "host" || scope == "all") {
    auto all = fleet_status(src_, scope);
    if (!all) return Response::text(all.message() + "\n", 503);
    workers = std::move(all.value());
    body = {{"scope", scope}, {"total", metrics::sum(workers)}, {"workers", workers}};
    if (scope == "host") body["host"] = src_.config.host;
  } else {
    return Response::text("scope: expected worker, host or all, got \"" + utf8_or_replaced(scope) + "\"\n", 400);
  }
  std::string text;
  switch (*format) {
    case metrics::Format::Json: text = json_text(body); break;
    case metrics::Format::Text: text = metrics::to_text(body.contains("total") ? body["total"] : body); break;
    case metrics::Format::Prometheus: text = metrics::to_prometheus(workers); break;
  }
  Response r = Response::text(std::move(text));
  r.headers.clear();
  r.header("Content-Type", metrics::content_type(*format)).header("Cache-Control", "no-store");
  return r;
}

}  // namespace tether
