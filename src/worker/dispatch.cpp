// One request through a Site (see dispatch.h).
#include "worker/dispatch.h"

namespace tether {

Response dispatch_request(const Site& site, Request& req, int* rule) {
  int unused = -1;
  return site.router.dispatch(req, nullptr, rule ? rule : &unused);
}

Response dispatch_peer_request(const Site& site, Request& req, const Forwarded& from, fcgi::Connection& conn,
                               PeerGate& gate, int* rule) {
  int unused = -1;
  if (!rule) rule = &unused;
  *rule = -1;
  if (auto answer = gate.admit(req, from, conn)) return std::move(*answer);
  return site.router.dispatch(req, &from, rule);
}

}  // namespace tether
