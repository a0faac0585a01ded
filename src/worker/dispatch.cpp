// One request through a Site (see dispatch.h).
#include "worker/dispatch.h"

namespace tether {

Response dispatch_request(const Site& site, Request& req, const std::map<std::string, std::string>& side_params,
                          fcgi::Connection& conn, PeerGate& gate, int* rule) {
  int unused = -1;
  if (!rule) rule = &unused;
  *rule = -1;
  if (side_params.empty()) return site.router.dispatch(req, nullptr, rule);
  Forwarded from;
  if (auto answer = gate.admit(req, side_params, conn, &from)) return std::move(*answer);
  return site.router.dispatch(req, &from, rule);
}

}  // namespace tether
