// SessionJob: one request handed from an acceptor thread to a session thread.
// Shared by both (shared_ptr): the acceptor may give up waiting (timeout)
// while the session thread still holds it. Fields above "results" are
// written by the acceptor before posting; results are written by the
// session thread before done is released, and read by the acceptor after.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "tether/app.h"
#include "tether/request.h"
#include "tether/response.h"
#include "token/session_id.h"

namespace tether {

struct SessionJob {
  Request request;
  const SessionFactory* factory = nullptr;  // makes the session if a new one is needed
  SessionId sid;                            // the session asked for, or the new id to use
  bool existing = false;                    // sid came from a valid cookie for this worker
  int64_t epoch = 1;                        // the ownership epoch this worker holds sid at (Session::epoch)
  int64_t token_epoch = 0;                  // the epoch in the client's cookie (0: none): later than epoch -> stale
  StartReason reason_if_new = StartReason::New;
  bool create_if_missing = true;            // false: an existing sid not found here sets `missing` instead
  // Bounds the acceptor applies (from the config); 0: none.
  int64_t max_sessions = 0;  // no new session while the worker holds this many: sets `full` instead
  int max_queued = 0;        // post() refuses (Busy) while this many requests for sid wait or run
  bool queued_counted = false;  // post() counted it among sid's waiting requests (the pool's own)

  // results
  Response response;
  bool created = false;      // a new session was made: set its cookie
  SessionId created_sid;
  bool ended = false;        // the session ended after this request: clear the cookie
  bool rotated = false;      // the session goes on under rotated_sid (Session::rotate_id): its cookie
  SessionId rotated_sid;     // ... (created_sid too, when it was made by this request)
  bool missing = false;      // existing sid not here, and create_if_missing was false
  bool full = false;         // a new session was needed and the worker holds max_sessions: none made
  bool stale = false;        // sid is here at an epoch older than the cookie's: not served
  std::string moved_to;      // the session was handed over to this peer address: forward there
  int64_t started_us = 0, finished_us = 0;  // steady clock, on the session thread (slow log)

  std::atomic<bool> abandoned{false};  // the acceptor stopped waiting

  // The session thread calls finish() once; the acceptor waits for it. A
  // mutex and condition variable, not std::binary_semaphore: libstdc++'s
  // timed semaphore wait spins with sched_yield, which on few cores takes
  // the CPU from the very session thread it waits for.
  void finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_ = true;
    }
    cv_.notify_one();
  }
  bool wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return finished_; });
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return finished_; });
  }
  bool finished() {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;
};

using SessionJobPtr = std::shared_ptr<SessionJob>;

}  // namespace tether
