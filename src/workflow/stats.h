// Workflow figures of one worker, for the status endpoint.
// Thread safety: the counts are atomics, written by the API route, the
// dispatchers, keepers and runners, read from any thread. `bounds` is
// written once, by the Engine's constructor, before the worker serves a
// request; read-only after that.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace tether::workflow {

struct Stats {
  std::atomic<int64_t> started{0};      // tickets created through this worker's API
  std::atomic<int64_t> rejected{0};     // start requests refused (400, 404, 413)
  std::atomic<int64_t> full{0};         // start requests refused with 503: incoming held max_incoming
  std::atomic<int64_t> cancelled{0};    // cancelled through this worker's API
  std::atomic<int64_t> taken{0};        // tickets this worker's dispatchers took
  std::atomic<int64_t> running{0};      // tickets running here now
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> stopped{0};      // runs ended early: cancelled, lease lost, or shutdown
  std::atomic<int64_t> requeued{0};     // tickets of dead workers put back by this worker
  std::atomic<int64_t> steps{0};        // steps recorded
  std::atomic<int64_t> step_retries{0}; // attempts after a step's first
  std::atomic<int64_t> redis_errors{0};
  std::atomic<int64_t> bad_tickets{0};     // taken tickets that could not be decoded or run: failed with the reason
  std::atomic<int64_t> bad_queue_items{0}; // queue items that were no ticket id (or no hash): removed
  // WAITs (min_replicas_ack) that fewer replicas confirmed in time: a start
  // answered all the same, or a taken ticket handed back before its step.
  std::atomic<int64_t> replica_waits_short{0};

  struct Bounds {
    int64_t max_incoming = 0;
    int64_t ticket_ttl_s = 0;
  };
  std::map<std::string, Bounds> bounds;  // per workflow, from its definition
};

inline nlohmann::json stats_json(const Stats& s) {
  nlohmann::json bounds = nlohmann::json::object();
  for (const auto& [name, b] : s.bounds) {
    bounds[name] = {{"max_incoming", b.max_incoming}, {"ticket_ttl_s", b.ticket_ttl_s}};
  }
  return {{"started", s.started.load()},   {"rejected", s.rejected.load()},
          {"full", s.full.load()},         {"cancelled", s.cancelled.load()},
          {"taken", s.taken.load()},       {"running", s.running.load()},
          {"done", s.done.load()},         {"failed", s.failed.load()},
          {"stopped", s.stopped.load()},   {"requeued", s.requeued.load()},
          {"steps", s.steps.load()},       {"step_retries", s.step_retries.load()},
          {"redis_errors", s.redis_errors.load()}, {"bad_tickets", s.bad_tickets.load()},
          {"bad_queue_items", s.bad_queue_items.load()}, {"replica_waits_short", s.replica_waits_short.load()},
          {"bounds", bounds}};
}

}  // namespace tether::workflow
