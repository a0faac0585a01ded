// Checkpoints, the session side (issue 18): which session apps checkpoint
// and how often (CheckpointPlans), what a session thread hands over
// (CheckpointRecord), and where it hands it (CheckpointSink, implemented by
// registry/checkpoints.h, which writes it to Redis).
//
// A session thread, holding the session's turn, takes a snapshot after a
// request at most once per plan.every_ms (or when that interval has passed
// since the last one, on a timer: SessionHost), serializes it, and gives it
// to the sink, which only queues it: nothing here waits on Redis.
// Hibernation (SessionHost, max_live_sessions) uses the same sink: it hands
// a record marked `keep` and destroys the session; waking it later is the
// one place a session thread waits on Redis (CheckpointSink::load), for the
// session it is about to serve.
//
// Thread safety: CheckpointPlans is read by every session thread and
// replaced whole by the main thread (start-up, SIGHUP reload). A sink's
// calls come from session threads and must return at once.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

#include "tether/app.h"
#include "token/session_id.h"

namespace tether {

// One app's checkpoints: its name (in the record) and the interval.
struct CheckpointPlan {
  std::string app;
  int64_t every_ms = 0;
};
// Keyed by the app's factory (the worker's AppRegistry: stable addresses).
using CheckpointPlanMap = std::unordered_map<const SessionFactory*, CheckpointPlan>;

inline constexpr int64_t kMinCheckpointEveryMs = 100;
inline constexpr int64_t kDefaultMaxSnapshotBytes = 1 << 20;

class CheckpointPlans {
 public:
  explicit CheckpointPlans(int64_t max_snapshot_bytes = kDefaultMaxSnapshotBytes)
      : max_snapshot_bytes_(max_snapshot_bytes) {}
  void replace(CheckpointPlanMap plans) {
    auto next = plans.empty() ? nullptr : std::make_shared<const CheckpointPlanMap>(std::move(plans));
    std::lock_guard<std::mutex> lock(mu_);
    any_ = next != nullptr;
    plans_ = std::move(next);
  }
  // The plan of the app that made a session; nullptr when it does not checkpoint.
  // The shared_ptr keeps the map (and the plan) alive while the caller uses it.
  std::shared_ptr<const CheckpointPlanMap> current() const {
    if (!any_.load(std::memory_order_relaxed)) return nullptr;  // no lock for workers without checkpoints
    std::lock_guard<std::mutex> lock(mu_);
    return plans_;
  }
  int64_t max_snapshot_bytes() const { return max_snapshot_bytes_; }

 private:
  const int64_t max_snapshot_bytes_;
  mutable std::mutex mu_;
  std::shared_ptr<const CheckpointPlanMap> plans_;
  std::atomic<bool> any_{false};
};

// One snapshot, as the session thread took it.
struct CheckpointRecord {
  SessionId sid;
  std::string app;
  int64_t epoch = 1;       // the ownership epoch the session is held at
  int64_t at_ms = 0;       // unix ms when snapshot() ran
  int64_t created_ms = 0;  // unix ms when the session started
  std::string state;       // snapshot() as JSON text (json_text: valid UTF-8)
  // Written by hibernation: the session object is gone once it is handed
  // over, so the sink never drops it for its pending bound (as a delete).
  bool keep = false;
};

// What CheckpointSink::load found for a hibernated session.
struct LoadedCheckpoint {
  enum class Kind {
    Found,        // state holds the newest record's snapshot
    Missing,      // no record (expired, deleted, a write that was fenced): the state is gone
    Refused,      // a record that does not decode or names another owner, epoch or app (counted)
    Unavailable,  // Redis did not answer: try again later; nothing is known
  };
  Kind kind = Kind::Missing;
  nlohmann::json state;
  int64_t at_ms = 0;  // when the snapshot was taken (unix ms)
  std::string why;    // not Found: the reason, for logs
};

class CheckpointSink {
 public:
  virtual ~CheckpointSink() = default;
  // Queues the record (newest per session wins) and returns at once.
  virtual void checkpoint(CheckpointRecord record) = 0;
  // The session ended here (on_end ran): its record is deleted, fenced by
  // owner and epoch, and any write still pending for it is dropped.
  virtual void checkpoint_ended(const SessionId& sid, int64_t epoch) = 0;

  // Hibernation (SessionHost, issue 18 item 3). Whether a record handed now
  // will be written soon (Redis up, the pending backlog under its bound):
  // while false, no session is hibernated.
  virtual bool accepting() const { return true; }
  // The newest record of sid written by this worker at epoch for app: the
  // one still pending or being written, else the one in Redis (decoded as
  // hostile input). Blocks on Redis: called on the session's own turn.
  virtual LoadedCheckpoint load(const SessionId& /*sid*/, int64_t /*epoch*/, const std::string& /*app*/) {
    LoadedCheckpoint none;
    none.why = "this sink keeps no records";
    return none;
  }
};

}  // namespace tether
