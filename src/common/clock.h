// Clock: the time source for timeouts, injectable so tests drive time by hand.
// Thread safety: SteadyClock is stateless; ManualClock is safe to read and
// advance from any thread.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>

namespace tether {

// Milliseconds on a monotonic scale (not wall time).
using Millis = int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Millis now_ms() const = 0;
};

class SteadyClock final : public Clock {
 public:
  Millis now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(Millis start = 1000) : now_(start) {}
  Millis now_ms() const override { return now_.load(); }
  void advance(Millis ms) { now_ += ms; }

 private:
  std::atomic<Millis> now_;
};

// Milliseconds since the Unix epoch, wall time (registry entries, peer proofs).
inline int64_t unix_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Microseconds on a monotonic scale (stage timings of the slow log).
inline int64_t steady_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Seconds since the Unix epoch, wall time (for token issue times and logs).
inline int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace tether
