// The "status" rule kind: this worker's figures as JSON. Only clients whose
// address is in the allow list (default: loopback) get them; others get 403.
// Spec: {} or {"allow": ["127.0.0.1", "10.0.0.5"]}.
// Thread safety: reads atomics only; serve() from any acceptor thread.
#pragma once
#include <functional>
#include <map>
#include <set>
#include <string>

#include "config/config.h"
#include "fcgi/server.h"
#include "http/router.h"
#include "registry/registry.h"
#include "session/stats.h"
#include "worker/forwarder.h"

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
};

class StatusRoute final : public RouteHandler {
 public:
  static Result<std::unique_ptr<RouteHandler>> make(const nlohmann::json& spec, StatusSources sources);
  Response serve(Request& req, const RouteMatch& match) override;

 private:
  explicit StatusRoute(StatusSources s) : src_(s) {}
  StatusSources src_;
  std::set<std::string> allow_;
  int64_t started_ = 0;
};

}  // namespace tether
