// Placement: which worker a new session is created on.
//   local         this worker (the default); another one if this worker
//                 accepts no sessions (a front-only worker)
//   round_robin   the live workers that accept sessions, in turn
//   least_loaded  the one with the fewest sessions at its last heartbeat
//   app           the application's hook (App::placement)
// The candidates come from the registry's directory; with none known
// (no Redis yet), a new session is made here if this worker accepts them.
// Room: a worker whose last heartbeat counts max_sessions (this worker's
// bound; every worker of a cluster is meant to share one tether.json) is
// skipped, and this worker when its own live count is at the bound; with
// no worker left, choose() fails and says the cause was room.
//
// Thread safety: choose() from any thread.
#pragma once
#include <atomic>
#include <string>

#include "cluster/route_parts.h"
#include "common/result.h"
#include "registry/registry.h"
#include "tether/app.h"

namespace tether {

class Placement final : public Placer {
 public:
  enum class Policy { Local, RoundRobin, LeastLoaded, App };
  static Result<Policy> parse(const std::string& name);

  Placement(Policy policy, bool accept_here, std::string my_host, int my_worker, Registry* registry,
            PlacementHook hook)
      : policy_(policy),
        accept_here_(accept_here),
        my_host_(std::move(my_host)),
        my_worker_(my_worker),
        registry_(registry),
        hook_(std::move(hook)) {}

  using Room = PlacementRoom;
  // "" to create the session here; else the address of the chosen worker.
  // Error when no worker accepts sessions, or none has room (then *full,
  // if given, is set).
  Result<std::string> choose(const Request& req, const Room& room, bool* full) override;
  // Drain: new sessions go to other accepting workers (here only if there is none).
  void set_draining() { draining_ = true; }

 private:
  Policy policy_;
  bool accept_here_;
  std::string my_host_;
  int my_worker_;
  Registry* registry_;
  PlacementHook hook_;
  std::atomic<uint64_t> turn_{0};
  std::atomic<bool> draining_{false};
};

}  // namespace tether
