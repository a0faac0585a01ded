// The "status" rule kind: this worker's figures, or every live worker's of
// this host (?scope=host) or of all hosts (?scope=all) read from their
// heartbeats in Redis; as JSON (default), php-fpm style text
// (?format=text) or Prometheus text (?format=prometheus, see ops/metrics.h).
// Only nginx's requests (not a peer's) from clients whose address is in the
// allow list (default: loopback) naming a Host in the hosts list (default:
// the loopback names) get them; others get 403 (ops/ops_gate.h). Spec: {}
// or {"allow": ["10.0.0.5"], "hosts": ["ops.example.com"]}.
// The "ping" rule kind answers "pong" to anyone (a liveness check).
// Figures read from Redis are decoded (registry/figures.h) before anything
// sums or writes them; serve() runs under the exception firewall
// ("status.request": a 500, the worker goes on).
// Thread safety: reads atomics only; serve() from any acceptor thread.
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <string>

#include "config/config.h"
#include "fcgi/server.h"
#include "http/router.h"
#include "ops/ops_gate.h"
#include "registry/figures.h"
#include "registry/registry.h"
#include "session/stats.h"
#include "cluster/forwarder.h"

namespace tether {

// Where the figures come from; registry may be null (no Redis configured).
struct StatusSources {
  const Config& config;
  const fcgi::ServerStats& server;
  const SessionStats& sessions;
  const ForwardStats& forward;
  const Registry* registry;
  // Components' own figures by section name ("cache", ...), read per request.
  std::map<std::string, std::function<nlohmann::json()>> sections;
  int64_t started = 0;                                  // unix seconds
  const std::atomic<uint64_t>* slow_requests = nullptr;  // requests over slow_request_ms
};

// This worker's figures as one JSON object (also written with each heartbeat).
nlohmann::json status_json(const StatusSources& src);

// The figures of the live workers of scope "host" (this host) or "all",
// read from their heartbeats in Redis and decoded (workers whose entries
// cannot be decoded are left out); this worker's own are current.
Result<std::vector<registry::Figures>> fleet_status(const StatusSources& src, const std::string& scope);

class StatusRoute final : public RouteHandler {
 public:
  static Result<std::unique_ptr<RouteHandler>> make(const nlohmann::json& spec, StatusSources sources);
  Response serve(Request& req, const RouteMatch& match) override;

 private:
  StatusRoute(StatusSources s, OpsGate gate) : src_(s), gate_(std::move(gate)) {}
  Response serve_checked(Request& req, const RouteMatch& match);  // serve() runs it under the firewall
  StatusSources src_;
  OpsGate gate_;
};

class PingRoute final : public RouteHandler {
 public:
  Response serve(Request&, const RouteMatch&) override {
    return Response::text("pong\n").header("Cache-Control", "no-store");
  }
};

}  // namespace tether
