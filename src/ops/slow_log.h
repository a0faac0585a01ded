// Slow log: a request that takes longer than slow_request_ms (0 = off) is
// logged as one JSON line, event "slow_request", with its rule's pattern,
// the session id hashed (BLAKE2b, 8 bytes hex: never the token or the id),
// the owner, and the time spent in each stage: waiting in the session
// thread's queue, running on the session thread, and forwarding to a peer.
//
// The stages are noted in the acceptor thread's RequestTrace
// (session/trace.h): the session rule writes it, the worker reads it when
// the reply is ready. Thread safety: trace() is
// per thread; SlowLog's counter is atomic; any acceptor thread.
#pragma once
#include <atomic>
#include <functional>
#include <cstdint>
#include <string>

#include "session/trace.h"

namespace tether {

// The id as the slow log shows it: 16 hex digits of BLAKE2b(id).
std::string hashed_sid(const SessionId& sid);

class SlowLog {
 public:
  explicit SlowLog(int64_t threshold_ms) : threshold_us_(threshold_ms * 1000) {}
  bool enabled() const { return threshold_us_ > 0; }
  // Call when a request starts: clears this thread's trace, returns the start time.
  int64_t begin() const;
  // Logs the request if it took longer than the threshold; true if it did.
  // pattern (the rule that served it) is asked for only then.
  bool finish(int64_t started_us, const std::string& method, const std::string& path,
              const std::function<std::string()>& pattern, int status);
  const std::atomic<uint64_t>& count() const { return slow_; }

 private:
  int64_t threshold_us_;
  std::atomic<uint64_t> slow_{0};
};

}  // namespace tether
