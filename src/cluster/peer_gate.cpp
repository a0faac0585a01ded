// The door for forwarded requests (see peer_gate.h).
#include "cluster/peer_gate.h"

#include "common/log.h"

namespace tether {

std::optional<Response> PeerGate::admit(Request& req, const std::map<std::string, std::string>& side,
                                        fcgi::Connection& conn, Forwarded* from) {
  auto verified = auth_.verify(req, side);
  if (!verified) {
    stats_.forged++;
    if (log::every(forged_log_, 1000)) {
      log::warn("peer_proof_refused", {{"error", verified.message()}, {"remote", req.remote_addr}});
    }
    return Response::text("forbidden: the forwarding proof did not verify\n", 403);
  }
  if (conn.caller_gone()) {
    conn.abandon();
    return Response{};
  }
  conn.early_note(kPeerAccepted);
  stats_.in++;
  if (req.path == kHandoverPath && handover_) return handover_->receive(req, verified.value());
  *from = std::move(verified.value());
  return std::nullopt;
}

}  // namespace tether
