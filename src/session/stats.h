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
  std::atomic<uint64_t> recovered{0};  // sessions restored from a checkpoint after their worker died
  std::atomic<uint64_t> restore_failed{0};  // recoveries won whose restore() refused or threw (a new session, lost)
  std::atomic<uint64_t> rotated{0};  // sessions given a new id (Session::rotate_id)
  // Copies dropped without on_end because another worker holds a newer
  // generation (recovered or taken over while this worker was stopped or cut off).
  std::atomic<uint64_t> dropped_stale{0};
  std::atomic<uint64_t> handler_errors{0};  // handlers that threw
  // Bounds (config max_sessions, max_queued_per_session): requests turned away.
  std::atomic<uint64_t> refused_full{0};    // a new session was needed and no worker had room (503)
  std::atomic<uint64_t> refused_queued{0};  // the session already had max_queued requests waiting (429)
  // Ownership (issue 16): a request whose token names a later epoch than the
  // copy here: the copy was not served (the request went to the owner, or 503).
  std::atomic<uint64_t> refused_stale{0};
  // Checkpoints (session/checkpoint.h): snapshots handed to the writer, and
  // those skipped (snapshot() threw or gave no state; larger than max_snapshot_bytes).
  std::atomic<uint64_t> checkpoints_taken{0};
  std::atomic<uint64_t> checkpoints_skipped_failed{0};
  std::atomic<uint64_t> checkpoints_skipped_too_large{0};
  // Hibernation (max_live_sessions): sessions written out and dropped from
  // memory now (a level; `live` counts only those in memory), in all, and
  // woken by a request or to end; wakes whose record could not be loaded or
  // restored (the session ended without on_end); and hibernations put off
  // because the checkpoint writer could not write (Redis down, backlog full).
  std::atomic<int64_t> hibernated{0};
  std::atomic<uint64_t> hibernations{0};
  std::atomic<uint64_t> woken{0};
  std::atomic<uint64_t> wake_failed{0};
  std::atomic<uint64_t> hibernate_deferred{0};
};

}  // namespace tether
