// Forwarded: what a peer worker said about a request it forwarded over the
// peer channel (cluster/peer_server.h: the channel authenticates it). The router hands it through to
// the rules without looking inside (http/router.h declares it only).
// Thread ownership: a value of the request that carries it.
#pragma once
#include <string>

namespace tether {

// Params of this name prefix in a peer channel request are the forwarding
// worker's, never the HTTP request's (nginx names client headers HTTP_*).
inline constexpr const char* kPeerParamPrefix = "TETHER_";
// The param that says why a new session is needed.
inline constexpr const char* kPeerReasonParam = "TETHER_REASON";

struct Forwarded {
  std::string from;    // the forwarding worker's route
  std::string reason;  // why a new session is needed ("lost", ...), or ""
};

}  // namespace tether
