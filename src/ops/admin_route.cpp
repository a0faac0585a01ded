// The "admin" rule kind (see admin_route.h).
#include "ops/admin_route.h"

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "ops/metrics.h"
#include "redis/bus.h"
#include "redis/pool.h"
#include "registry/registry.h"
#include "tether/cache.h"

namespace tether {
namespace {

// "HOST-N" as the drain action takes it: HOST of 1 to 32 of [A-Za-z0-9_], N of 1 to 5 digits.
bool valid_worker_name(const std::string& w) {
  size_t dash = w.rfind('-');
  if (dash == std::string::npos || dash == 0 || dash > 32 || w.size() - dash - 1 < 1 || w.size() - dash - 1 > 5) {
    return false;
  }
  for (size_t i = 0; i < w.size(); ++i) {
    char c = w[i];
    bool ok = i < dash ? (std::isalnum(static_cast<unsigned char>(c)) || c == '_') : (i == dash || (c >= '0' && c <= '9'));
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<RouteHandler>> AdminRoute::make(const nlohmann::json& spec, StatusSources sources,
                                                       const TokenCodec& codec) {
  auto gate = OpsGate::parse(spec);
  if (!gate) return gate.status();
  return std::unique_ptr<RouteHandler>(new AdminRoute(std::move(sources), std::move(gate.value()), codec));
}

Response AdminRoute::serve(Request& req, const RouteMatch& match) {
  if (auto refused = gate_.check("admin", req, match)) return std::move(*refused);
  std::string sub = req.path.substr(std::min(req.path.size(), req.path.find("/admin") + 6));
  if (sub.empty() || sub == "/") {
    // Not to be framed by another site (a click on a framed drain button).
    return Response::html(admin_page_html(csrf_.issue(unix_seconds())))
        .header("Cache-Control", "no-store")
        .header("X-Frame-Options", "DENY")
        .header("Content-Security-Policy", "frame-ancestors 'none'");
  }
  if (sub == "/status") {
    nlohmann::json body;
    if (src_.config.registry) {
      auto all = fleet_status(src_, "host");
      if (!all) return Response::text(all.message() + "\n", 503);
      body = {{"host", src_.config.host}, {"workers", *all}, {"total", metrics::sum(*all)}};
    } else {
      nlohmann::json mine = status_json(src_);
      body = {{"host", src_.config.host}, {"workers", {mine}}, {"total", metrics::sum({mine})}};
    }
    return Response::json(json_text(body)).header("Cache-Control", "no-store");
  }
  if (sub != "/drain" && sub != "/invalidate") return Response::text("not found\n", 404);
  if (req.method != "POST") return Response::text("POST only\n", 405);
  return action(req, sub);
}

Response AdminRoute::action(const Request& req, const std::string& sub) {
  if (auto refused = gate_.same_origin("admin", req)) return std::move(*refused);
  if (auto why = csrf_.verify(req.header("x-tether-csrf"), unix_seconds())) {
    return ops_refused("admin", "bad_csrf",
                       "admin: missing or stale CSRF token (X-Tether-CSRF: " + *why + "); reload the page");
  }
  return sub == "/drain" ? drain(req) : invalidate(req);
}

Response AdminRoute::drain(const Request& req) {
  std::string worker = req.form_param("worker");
  if (!valid_worker_name(worker)) return Response::text("worker: expected HOST-N, e.g. h1-2\n", 400);
  if (!src_.config.registry || src_.registry == nullptr) {
    return Response::text("drain goes over the bus: no \"redis\" configured\n", 503);
  }
  auto redis = src_.registry->redis_pool().acquire();
  auto r = publish(*redis, BusMessage::drain(worker));
  if (!r) return Response::text(r.message() + "\n", 503);
  log::info("drain_published", {{"worker", worker}, {"by", req.remote_addr}});
  return Response::json(json_text(nlohmann::json{{"drain", worker}, {"receivers", *r}}));
}

Response AdminRoute::invalidate(const Request& req) {
  cache::Invalidation what;
  what.regex = req.form_param("regex");
  std::string group = req.form_param("group");
  if (!group.empty()) what.groups.push_back(group);
  if (what.regex.empty() && what.groups.empty()) return Response::text("give a regex or a group\n", 400);
  auto out = cache::invalidate(what);
  if (!out.ok) return Response::text(out.error + "\n", 400);
  return Response::json(json_text(nlohmann::json{{"invalidated", true}, {"regex", what.regex}, {"group", group}}));
}

}  // namespace tether
