// PeerGate: the cluster's door for a request a peer worker forwarded over
// the peer channel (the channel has authenticated the peer already; see
// peer_server.h). In order:
//   - a peer that has given up already is not served: it closed the
//     connection when its quick timeout passed (this worker was stopped or
//     stalled) and made a new session for the request, so running it here
//     too would run it twice (the connection is abandoned: no reply);
//   - the peer is told at once that this worker took the request (an ack
//     message), so its quick timeout measures liveness, not the handler's
//     time;
//   - a hand-over (kHandoverPath) goes to the Handover.
// What is left goes on to the dispatch rules with the Forwarded.
//
// Thread ownership: admit() runs on peer connection threads, concurrently;
// the parts it is given are thread-safe and outlive it.
#pragma once
#include <optional>

#include "cluster/forwarded.h"
#include "cluster/forwarder.h"
#include "cluster/handover.h"
#include "fcgi/connection.h"
#include "tether/request.h"
#include "tether/response.h"

namespace tether {

class PeerGate {
 public:
  // handover may be null (no Redis: sessions never move).
  PeerGate(ForwardStats& stats, Handover* handover) : stats_(stats), handover_(handover) {}
  // nullopt: serve it by the rules, with from. Else the answer (ignored if
  // the gate abandoned the connection).
  std::optional<Response> admit(Request& req, const Forwarded& from, fcgi::Connection& conn);

 private:
  ForwardStats& stats_;
  Handover* handover_;
};

}  // namespace tether
