// SessionObserver: told when sessions start, are used, and end, so the
// registry can mirror them in Redis. Called on the session's own thread, so
// an implementation must only queue the news and return at once.
#pragma once
#include <cstdint>

#include "tether/session.h"
#include "token/session_id.h"

namespace tether {

class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  virtual void session_created(const SessionId& sid, int64_t created_unix_ms) = 0;
  // At most once per SessionTimeouts::report_ms of a session's use.
  virtual void session_used(const SessionId& sid, int64_t created_unix_ms) = 0;
  virtual void session_ended(const SessionId& sid, EndReason reason) = 0;
  // The live session old_sid goes on as new_sid (Session::rotate_id): the
  // registry claims new_sid as for a new session and removes old_sid.
  virtual void session_rotated(const SessionId& old_sid, const SessionId& new_sid, int64_t created_unix_ms) {
    session_created(new_sid, created_unix_ms);
    session_ended(old_sid, EndReason::App);
  }
};

}  // namespace tether
