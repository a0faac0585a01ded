// The door for forwarded requests (see peer_gate.h).
#include "cluster/peer_gate.h"

namespace tether {

std::optional<Response> PeerGate::admit(Request& req, const Forwarded& from, fcgi::Connection& conn) {
  if (conn.caller_gone()) {
    conn.abandon();
    return Response{};
  }
  conn.early_note("accepted");
  stats_.in++;
  if (req.path == kHandoverPath && handover_) return handover_->receive(req, from);
  return std::nullopt;
}

}  // namespace tether
