// The "admin" rule kind: a small self-contained HTML page for operators
// (no external script or style). Spec: {} or {"allow": [...], "hosts": [...]}
// (ops/ops_gate.h: nginx's requests only, client address in "allow",
// default loopback; Host in "hosts", default the loopback names; 403
// otherwise). Match it with "^/tether/admin(/.*)?$":
//   GET  /tether/admin             the page: workers, sessions per worker, the
//                                  figures, a chart of the request rate (inline
//                                  JS polling /tether/admin/status every 2 s)
//   GET  /tether/admin/status      the host's figures (status JSON, scope=host)
//   POST /tether/admin/drain       worker=h1-2: publish a drain on the bus
//   POST /tether/admin/invalidate  regex=...&group=...: cache invalidation everywhere
// POSTs are actions and pass two more checks, each a 403 with the reason,
// counted: same origin (OpsGate::same_origin: Origin and Sec-Fetch-Site,
// "admin.cross_site"), and the header X-Tether-CSRF carrying the token that
// the page embeds (ops/csrf.h: signed with a key derived from the cluster
// key set, so any worker verifies it; valid 12 h; "admin.bad_csrf": "reload
// the page"). The page's script sends it; a script or tool GETs the page
// first and reads <meta name="tether-csrf" content="...">. (It replaces the
// old X-Tether-Admin: 1 header, no longer read.)
// Form values are outside input: a bad worker name, regex (too long, or one
// RE2 refuses) or group is answered 400 with the reason, and every JSON
// answer is written with json_text (invalid UTF-8 becomes U+FFFD).
// Thread safety: immutable after construction; serve() from any acceptor thread.
#pragma once
#include <string>

#include "http/router.h"
#include "ops/csrf.h"
#include "ops/ops_gate.h"
#include "ops/status_route.h"

namespace tether {

class AdminRoute final : public RouteHandler {
 public:
  static Result<std::unique_ptr<RouteHandler>> make(const nlohmann::json& spec, StatusSources sources,
                                                    const TokenCodec& codec);
  Response serve(Request& req, const RouteMatch& match) override;

 private:
  AdminRoute(StatusSources s, OpsGate gate, const TokenCodec& codec)
      : src_(std::move(s)), gate_(std::move(gate)), csrf_(codec) {}
  Response action(const Request& req, const std::string& sub);
  Response drain(const Request& req);
  Response invalidate(const Request& req);
  StatusSources src_;
  OpsGate gate_;
  CsrfTokens csrf_;
};

// The page's HTML (admin_page.cpp), with csrf_token in its tether-csrf meta tag.
std::string admin_page_html(const std::string& csrf_token);

}  // namespace tether
