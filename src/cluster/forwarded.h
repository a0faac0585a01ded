// Forwarded: what a verified peer worker said about a request it forwarded
// (cluster/peer_auth.h checks the proof). The router hands it through to
// the rules without looking inside (http/router.h declares it only).
// Thread ownership: a value of the request that carries it.
#pragma once
#include <string>

namespace tether {

// FastCGI params of this name prefix are a forwarding peer's, never the
// HTTP request's: nginx names client headers HTTP_*, so no client can send
// them through nginx. The FastCGI server hands them over apart (side params).
inline constexpr const char* kPeerParamPrefix = "TETHER_";

struct Forwarded {
  std::string from;    // the forwarding worker's route
  std::string reason;  // why a new session is needed ("lost", ...), or ""
};

}  // namespace tether
