// Workflow figures of one worker, for the status endpoint.
// Thread safety: atomics, written by the API route, the dispatchers and the
// runners; read from any thread.
#pragma once
#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace tether::workflow {

struct Stats {
  std::atomic<int64_t> started{0};      // tickets created through this worker's API
  std::atomic<int64_t> rejected{0};     // start requests refused (400, 404, 413)
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
};

inline nlohmann::json stats_json(const Stats& s) {
  return {{"started", s.started.load()},   {"rejected", s.rejected.load()},
          {"cancelled", s.cancelled.load()}, {"taken", s.taken.load()},
          {"running", s.running.load()},   {"done", s.done.load()},
          {"failed", s.failed.load()},     {"stopped", s.stopped.load()},
          {"requeued", s.requeued.load()}, {"steps", s.steps.load()},
          {"step_retries", s.step_retries.load()}, {"redis_errors", s.redis_errors.load()}};
}

}  // namespace tether::workflow
