// Choosing the worker for a new session (see placement.h).
#include "cluster/placement.h"

#include <algorithm>

namespace tether {

Result<Placement::Policy> Placement::parse(const std::string& name) {
  if (name == "local") return Policy::Local;
  if (name == "round_robin") return Policy::RoundRobin;
  if (name == "least_loaded") return Policy::LeastLoaded;
  if (name == "app") return Policy::App;
  return Result<Policy>::error("expected \"local\", \"round_robin\", \"least_loaded\" or \"app\", got \"" + name + "\"");
}

Result<std::string> Placement::choose(const Request& req, const Room& room, bool* full) {
  bool draining = draining_.load();
  bool here_ok = accept_here_ && !room.here_full;
  if (policy_ == Policy::Local && here_ok && !draining) return std::string();
  auto dir = registry_ ? registry_->workers() : nullptr;
  std::vector<const registry::WorkerInfo*> candidates;
  bool skipped_full = accept_here_ && room.here_full;
  if (dir) {
    for (const auto& w : *dir) {
      bool me = w.host == my_host_ && w.worker == my_worker_;
      if (!w.accepting || (draining && me)) continue;
      if (me ? room.here_full : (room.max_sessions > 0 && w.sessions >= room.max_sessions)) {
        skipped_full = true;
        continue;
      }
      candidates.push_back(&w);
    }
  }
  if (candidates.empty()) {
    if (here_ok) return std::string();
    if (full != nullptr) *full = skipped_full;
    if (skipped_full) return Result<std::string>::error("no worker has room for a new session (max_sessions)");
    return Result<std::string>::error("no live worker accepts new sessions");
  }
  std::sort(candidates.begin(), candidates.end(), [](auto* a, auto* b) {
    return a->host != b->host ? a->host < b->host : a->worker < b->worker;
  });
  const registry::WorkerInfo* pick = candidates.front();
  switch (policy_) {
    case Policy::Local:  // this worker takes none (or is draining): spread them
    case Policy::RoundRobin:
      pick = candidates[turn_++ % candidates.size()];
      break;
    case Policy::LeastLoaded:
      pick = *std::min_element(candidates.begin(), candidates.end(),
                               [](auto* a, auto* b) { return a->sessions < b->sessions; });
      break;
    case Policy::App: {
      std::vector<PlacementCandidate> offer;
      for (auto* c : candidates) offer.push_back(PlacementCandidate{c->host, c->worker, c->sessions});
      size_t i = hook_ ? hook_(req, offer) : 0;
      pick = candidates[std::min(i, candidates.size() - 1)];
      break;
    }
  }
  if (pick->host == my_host_ && pick->worker == my_worker_) return std::string();
  return pick->addr;
}

}  // namespace tether
