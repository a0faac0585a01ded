// Backoff: the one reconnect rhythm of every thread that talks to Redis
// (registry, bus, cache follower and publisher, journal shipper). A failed
// try waits 100 ms, doubling to a maximum, and stop-aware; an outage is
// logged once when it begins (down() says when) and once when it ends (up()
// gives its length); a success resets the wait.
//
//   if (backoff.down()) log::warn("x_down", ...);   // once per outage
//   if (backoff.sleep([&] { return stopping_.load(); })) break;
//   ...
//   if (auto ms = backoff.up()) log::info("x_up", {{"down_ms", *ms}});
//
// Thread safety: none; one Backoff per thread (the thread it paces).
#pragma once
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>

#include "common/clock.h"

namespace tether {

class Backoff {
 public:
  static constexpr int64_t kFirstMs = 100;
  static constexpr int64_t kDefaultMaxMs = 2000;
  static constexpr int64_t kSliceMs = 50;  // sleep() looks at its stop condition this often

  explicit Backoff(int64_t max_ms = kDefaultMaxMs) : max_ms_(max_ms) {}

  // A try failed. True when this failure begins an outage (log it then):
  // false for every later failure until up().
  bool down(int64_t now_ms = unix_millis()) {
    if (down_) return false;
    down_ = true;
    down_since_ms_ = now_ms;
    return true;
  }
  // A try succeeded: the wait starts again at kFirstMs. The outage's length
  // in ms when one was going on (log its end then), nullopt otherwise.
  std::optional<int64_t> up(int64_t now_ms = unix_millis()) {
    reset();
    if (!down_) return std::nullopt;
    down_ = false;
    return std::max<int64_t>(0, now_ms - down_since_ms_);
  }
  bool is_down() const { return down_; }

  // The wait before the next try; grow() doubles it up to the maximum.
  int64_t delay_ms() const { return delay_ms_; }
  void grow() { delay_ms_ = std::min(delay_ms_ * 2, max_ms_); }
  void reset() { delay_ms_ = kFirstMs; }

  // Sleeps the wait in slices of kSliceMs, returning early (true) once
  // stopping() says so; then grows the wait. False: the wait ran out.
  template <class Stopping>
  bool sleep(Stopping stopping) {
    bool stopped = stopping();
    for (int64_t waited = 0; waited < delay_ms_ && !stopped; waited += kSliceMs) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(kSliceMs, delay_ms_ - waited)));
      stopped = stopping();
    }
    grow();
    return stopped;
  }
  // Waits the wait on cv (notified when pred() may have turned true) with
  // lock held; then grows the wait. Returns pred().
  template <class Pred>
  bool wait(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, Pred pred) {
    bool woken = cv.wait_for(lock, std::chrono::milliseconds(delay_ms_), pred);
    grow();
    return woken;
  }

 private:
  int64_t max_ms_;
  int64_t delay_ms_ = kFirstMs;
  bool down_ = false;
  int64_t down_since_ms_ = 0;
};

}  // namespace tether
