// The "admin" rule kind: a small self-contained HTML page for operators
// (no external script or style), protected like the status rule (allow
// list, default loopback; 403 otherwise). Spec: {} or {"allow": [...]}.
// Match it with "^/tether/admin(/.*)?$":
//   GET  /tether/admin             the page: workers, sessions per worker, the
//                                  figures, a chart of the request rate (inline
//                                  JS polling /tether/admin/status every 2 s)
//   GET  /tether/admin/status      the host's figures (status JSON, scope=host)
//   POST /tether/admin/drain       worker=h1-2: publish a drain on the bus
//   POST /tether/admin/invalidate  regex=...&group=...: cache invalidation everywhere
// POSTs must carry the header X-Tether-Admin: 1 (the page's script sets it;
// a cross-site form cannot), so another site cannot make a browser post them.
// Form values are outside input: a bad worker name, regex (too long, or one
// RE2 refuses) or group is answered 400 with the reason, and every JSON
// answer is written with json_text (invalid UTF-8 becomes U+FFFD).
// Thread safety: immutable after construction; serve() from any acceptor thread.
#pragma once
#include <set>
#include <string>

#include "http/router.h"
#include "ops/status_route.h"

namespace tether {

class AdminRoute final : public RouteHandler {
 public:
  static Result<std::unique_ptr<RouteHandler>> make(const nlohmann::json& spec, StatusSources sources);
  Response serve(Request& req, const RouteMatch& match) override;

 private:
  explicit AdminRoute(StatusSources s) : src_(std::move(s)) {}
  Response drain(const Request& req);
  Response invalidate(const Request& req);
  StatusSources src_;
  std::set<std::string> allow_;
};

// The page's HTML (admin_page.cpp).
const char* admin_page_html();

}  // namespace tether
