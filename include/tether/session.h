// tether::Session: the base class of an application's per-user state.
//
// One object per user session lives in memory on one worker. Every call
// (on_start, handle, on_end, snapshot, restore) runs one at a time, in the
// order requests arrived, with everything the previous call wrote visible:
// write it as if it talked to one user, with no locks.
//
// Which thread runs a call: with session_turns "inline" (the default), a
// request for a session nobody is running runs on the thread that read it,
// and only one that finds the session busy waits for the session's own
// thread; timers and hand-overs run on the session's thread. So do not keep
// thread_local state across calls. An app that needs one thread per session
// for life sets session_turns "pinned" (every call on the session's thread,
// at the cost of two thread wake-ups per request).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "tether/request.h"
#include "tether/response.h"

namespace tether {

// Why a new session was started for a request.
enum class StartReason {
  New,      // the request carried no session cookie
  Expired,  // a valid cookie whose session has ended (idle, lifetime, kill)
  Invalid,  // a cookie that failed to decrypt or authenticate: never adopted
  Lost,     // a valid cookie whose owner worker could not be reached
  // A session restored from its last checkpoint after its worker died
  // (a rule with "checkpoint"): the same id, a fresh object; the app sees
  // restore(state), then on_start(Recovered), then the request. The state
  // is as of the last checkpoint: at most one checkpoint interval of
  // changes may be lost.
  Recovered,
};

// Why a session ended.
enum class EndReason {
  Idle,      // no request for idle_timeout
  Lifetime,  // older than the total lifetime
  App,       // the application called end()
  Killed,    // an operator killed it
  Shutdown,  // the worker stopped
  Drained,   // the worker drained (SIGTERM, tetherctl drain) and the app has no snapshot()
};

const char* to_string(StartReason r);
const char* to_string(EndReason r);

class SessionHost;  // internal: the session thread's table

class Session {
 public:
  virtual ~Session() = default;

  // Runs once, before the first handle(), with the reason it started.
  virtual void on_start(StartReason /*reason*/) {}
  // Serves one request. Never concurrently with another call of this session.
  virtual Response handle(const Request& req) = 0;
  // Runs once when the session ends.
  virtual void on_end(EndReason /*reason*/) {}

  // Hand-over on drain (optional, both or neither). When its worker drains
  // (SIGTERM, `tetherctl drain`), a session whose snapshot() returns its
  // state is moved to another live worker: a fresh object of the same app is
  // made there and restore(state) runs instead of on_start; the old object
  // is destroyed without on_end. Neither runs concurrently with another call. The
  // default (nullopt) keeps the session where it is: it finishes its
  // requests and ends with EndReason::Drained. restore() returns false to
  // refuse a state it cannot use (the session then stays and is drained).
  virtual std::optional<nlohmann::json> snapshot() const { return std::nullopt; }
  virtual bool restore(const nlohmann::json& /*state*/) { return false; }

  // Hibernation (config max_live_sessions, apps whose rule has
  // "checkpoint"): when a worker holds more sessions than its budget, the
  // least recently used idle ones are snapshot() to Redis and their objects
  // destroyed. The next request (or the session's end) makes a fresh object,
  // runs restore(state), then on_wake(), then the request (or on_end): the
  // state is exactly as snapshot() gave it. on_start does not run again.
  // Anything not in the snapshot (open files, caches, timers of the app's
  // own) is gone: rebuild it here. The default does nothing.
  virtual void on_wake() {}

  // Asks tether to end this session after the current request.
  void end() { end_requested_ = true; }
  // Asks tether to give this session a new id after the current request:
  // call it when the user logs in (or gains rights), so that an id someone
  // planted or saw before (session fixation) is worth nothing. The object
  // and its state stay; the answer to this request carries a cookie for the
  // new id (128 fresh random bits, epoch 1, a new registry entry), and the
  // old id is retired at once: its registry entry is removed, and a request
  // still carrying the old cookie, including one already waiting behind
  // this one, gets a new session with StartReason::Expired. So rotate on a
  // request the page makes alone (the login POST), not beside others.
  // end() in the same request wins (the session ends, no new id).
  void rotate_id() { rotate_requested_ = true; }

  // Facts about this session, for display and logs.
  std::string short_id() const;  // first 6 bytes of the id, hex: safe to show
  const std::string& route() const { return *route_; }  // "{host}-{worker}"
  StartReason start_reason() const { return start_reason_; }
  uint64_t request_count() const { return requests_; }  // including this one
  // The session's ownership generation: 1 when it started, one more each
  // time it moved to another worker. Answers for one session with one epoch
  // all come from one worker; a later epoch means it moved.
  int64_t epoch() const { return epoch_; }

 private:
  friend class SessionHost;
  // The record tether keeps per session is this small on purpose: the
  // route string is shared by every session of the worker.
  const std::string* route_ = nullptr;
  uint8_t id_[16] = {};
  uint64_t requests_ = 0;
  int64_t epoch_ = 1;
  StartReason start_reason_ = StartReason::New;
  bool end_requested_ = false;
  bool rotate_requested_ = false;
};

}  // namespace tether
