// PeerGate: the cluster's door for a request a peer worker forwarded (one
// that carries kPeerParamPrefix params: the FastCGI server's side params).
// In order:
//   - the proof must verify (peer_auth.h), else 403 (counted forward.forged,
//     logged at most once a second);
//   - a peer that has given up already is not served: it closed the
//     connection when its quick timeout passed (this worker was stopped or
//     stalled) and made a new session for the request, so running it here
//     too would run it twice (the connection is abandoned: no reply);
//   - the peer is told at once that this worker took the request (a line on
//     FCGI_STDERR), so its quick timeout measures liveness, not the
//     handler's time;
//   - a hand-over (kHandoverPath) goes to the Handover.
// What is left goes on to the dispatch rules with the Forwarded.
//
// Thread ownership: admit() runs on acceptor threads, concurrently; the
// parts it is given are thread-safe and outlive it.
#pragma once
#include <atomic>
#include <map>
#include <optional>
#include <string>

#include "cluster/forwarded.h"
#include "cluster/forwarder.h"
#include "cluster/handover.h"
#include "cluster/peer_auth.h"
#include "fcgi/connection.h"
#include "tether/request.h"
#include "tether/response.h"

namespace tether {

// The line a worker sends a forwarding peer as soon as it takes its request.
inline constexpr const char* kPeerAccepted = "tether: accepted\n";

class PeerGate {
 public:
  // handover may be null (no Redis: sessions never move).
  PeerGate(const PeerAuth& auth, ForwardStats& stats, Handover* handover)
      : auth_(auth), stats_(stats), handover_(handover) {}
  // side: the request's kPeerParamPrefix params (not empty). nullopt: serve
  // it by the rules, with *from. Else the answer (ignored if the gate
  // abandoned the connection).
  std::optional<Response> admit(Request& req, const std::map<std::string, std::string>& side,
                                fcgi::Connection& conn, Forwarded* from);

 private:
  const PeerAuth& auth_;
  ForwardStats& stats_;
  Handover* handover_;
  std::atomic<int64_t> forged_log_{0};  // log::every stamp
};

}  // namespace tether
