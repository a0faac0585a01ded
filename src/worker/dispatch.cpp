// One request through a Site (see dispatch.h).
#include "worker/dispatch.h"

#include "common/log.h"

namespace tether {

Response dispatch_request(const Site& site, Request& req, const std::map<std::string, std::string>& peer_params,
                          const DispatchParts& p, int* rule) {
  int unused = -1;
  if (!rule) rule = &unused;
  *rule = -1;
  if (peer_params.empty()) return site.router.dispatch(req, nullptr, rule);
  auto forwarded = p.peer_auth.verify(req, peer_params);
  if (!forwarded) {
    p.forwarder.stats().forged++;
    if (log::every(p.forged_log, 1000)) {
      log::warn("peer_proof_refused", {{"error", forwarded.message()}, {"remote", req.remote_addr}});
    }
    return Response::text("forbidden: the forwarding proof did not verify\n", 403);
  }
  p.forwarder.stats().in++;
  if (req.path == kHandoverPath && p.handover) return p.handover->receive(req, forwarded.value());
  return site.router.dispatch(req, &forwarded.value(), rule);
}

}  // namespace tether
