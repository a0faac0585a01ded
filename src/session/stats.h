// SessionStats: counters of one worker's sessions. Atomics: written by the
// session threads, read by anyone (status, logs, tests).
#pragma once
#include <atomic>
#include <cstdint>

namespace tether {

struct SessionStats {
  std::atomic<int64_t> live{0};
  std::atomic<uint64_t> created{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> ended_idle{0}, ended_lifetime{0}, ended_app{0}, ended_killed{0}, ended_shutdown{0},
      ended_drained{0};
  std::atomic<uint64_t> moved_in{0}, moved_out{0};  // sessions handed over (drain)
  std::atomic<uint64_t> handler_errors{0};  // handlers that threw
};

}  // namespace tether
