// The exception firewall and the refusal counts: what every thread and
// request boundary of a worker runs, so that nothing thrown below it, and no
// input from outside, can end the process.
//
// guard(place, fn) runs fn; an exception it throws is caught, counted under
// `place` ("fcgi.request", "bus.dispatch", "registry.loop", ...) and logged
// at most once a second per place. refused(kind, reason) counts and logs
// (same rate) an input from outside that a decoder turned away
// ("bus.bad_message", "heartbeat.bad_figures", "ticket.bad_hash", ...).
// Both show in the status figures under "errors".
//
// Thread safety: every function may be called from any thread; the counts
// are process-wide (one worker is one process).
#pragma once
#include <exception>
#include <nlohmann/json.hpp>
#include <string>

namespace tether::firewall {

// Counts and logs one exception caught at `place`.
void caught(const std::string& place, const std::string& what);
// Counts and logs one refused input of `kind`; `reason` says what was wrong.
void refused(const std::string& kind, const std::string& reason);
// A background thread that had to stop: counted under "stopped", logged always.
void thread_stopped(const std::string& name, const std::string& why);

// {"caught": {place: n}, "refused": {kind: n}, "threads_stopped": {name: why}}
nlohmann::json stats_json();
// The count so far for one place or kind (tests).
uint64_t caught_count(const std::string& place);
uint64_t refused_count(const std::string& kind);

// Runs fn(); true if it returned, false if it threw (caught, counted, logged).
template <class F>
bool guard(const std::string& place, F&& fn) noexcept {
  try {
    fn();
    return true;
  } catch (const std::exception& e) {
    caught(place, e.what());
  } catch (...) {
    caught(place, "a non-standard exception");
  }
  return false;
}

}  // namespace tether::firewall
