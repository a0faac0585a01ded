// The session route's collaborators as small interfaces, so its decision
// table (invalid, expired, local, adopted, forward, lost, placement, stale,
// unsettled) has unit tests with fakes (tests/unit/cluster/session_route_test.cpp).
// The worker's Forwarder, Placement and Handover implement them; the
// registry's side is OwnerBook (registry/owner_book.h).
// Thread ownership: every call from acceptor threads, concurrently.
#pragma once
#include <string>

#include "cluster/call_result.h"
#include "common/result.h"
#include "session/job.h"
#include "tether/request.h"
#include "token/session_id.h"

namespace tether {

// Where other workers live, and a forwarded request's answer.
class PeerLink {
 public:
  virtual ~PeerLink() = default;
  // "" when the worker is not known to be alive.
  virtual std::string address_of(const std::string& host, int worker) const = 0;
  // Forwards req, signed, with the reason a new session is needed ("" if none).
  virtual CallResult forward(const std::string& addr, const Request& req, const std::string& reason) = 0;
};

// Which workers have room for a new session (the max_sessions bound).
struct PlacementRoom {
  int64_t max_sessions = 0;  // a worker with this many sessions takes no new one; 0: no bound
  bool here_full = false;    // this worker holds max_sessions now (its own count, not its heartbeat)
};

// Where a new session is made.
class Placer {
 public:
  virtual ~Placer() = default;
  // "" for here; else the chosen worker's address. Error when no worker
  // accepts sessions, or none has room (then *full is set).
  virtual Result<std::string> choose(const Request& req, const PlacementRoom& room, bool* full) = 0;
};

// Sessions handed over to this worker whose cookies still name the old one,
// and the session apps a session handed over or recovered may be made with.
class Adoptions {
 public:
  virtual ~Adoptions() = default;
  virtual bool adopted(const SessionId& sid) const = 0;
  // The factory of the session app registered under name; null if none.
  virtual const SessionFactory* app(const std::string& name) const = 0;
  // sid was recovered here: from now on adopted(sid), as a session handed
  // over (a cookie naming its dead owner finds it here, also when a peer
  // forwards it).
  virtual void recovered(const SessionId& sid) = 0;
};

}  // namespace tether
