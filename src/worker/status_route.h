// The "status" rule kind: this worker's figures as JSON. Only clients whose
// address is in the allow list (default: loopback) get them; others get 403.
// Spec: {} or {"allow": ["127.0.0.1", "10.0.0.5"]}.
// Thread safety: reads atomics only; serve() from any acceptor thread.
#pragma once
#include <set>
#include <string>

#include "config/config.h"
#include "fcgi/server.h"
#include "http/router.h"
#include "session/stats.h"

namespace tether {

class StatusRoute final : public RouteHandler {
 public:
  static Result<std::unique_ptr<RouteHandler>> make(const nlohmann::json& spec, const Config& config,
                                                    const fcgi::ServerStats& server, const SessionStats& sessions);
  Response serve(Request& req, const RouteMatch& match) override;

 private:
  StatusRoute(const Config& c, const fcgi::ServerStats& server, const SessionStats& sessions)
      : config_(c), server_(server), sessions_(sessions) {}
  const Config& config_;
  const fcgi::ServerStats& server_;
  const SessionStats& sessions_;
  std::set<std::string> allow_;
  int64_t started_ = 0;
};

}  // namespace tether
