// CheckpointWriter: the one thread that writes session checkpoints to Redis
// (issue 18; the record and its fenced scripts: checkpoint_record.h).
//
// Session threads hand it records (CheckpointSink); it keeps at most one
// pending operation per session (newest wins: a later snapshot replaces an
// earlier one, a delete replaces a write) and writes them in pipelined
// batches of EVALSHA calls. Pending writes are bounded in bytes
// (max_pending_bytes): past it, the oldest pending writes are dropped and
// counted ("dropped"); deletes are never dropped (an ended session must not
// be recovered). A write the script fences (the entry names another owner or
// epoch) is counted and dropped; one that finds no entry yet (the registry
// thread writes a new session's entry on its own connection) is tried again
// a few times, then counted as fenced.
//
// Records of hibernating sessions (record.keep) are never dropped for the
// bound either: the session object is gone, the record is all there is.
// They stay readable (load) until Redis confirmed them: from pending_, then
// from inflight_ while their batch is being written, then from Redis.
// accepting() is false while Redis is down or the backlog is past half its bound,
// so hibernation waits instead of piling records up.
//
// Redis down: records wait (bounded as above, newest wins) and are written
// when it is back; reconnects wait with Backoff, and the outage is logged
// once. stop() writes what is pending, best effort, for at most
// stop_timeout_ms, then drops the rest.
//
// Thread safety: checkpoint()/checkpoint_ended()/accepting()/load()/figures()
// from any thread (load() on a connection of its own from readers_);
// start()/stop() from the owner. redis_ is the writer thread's alone.
#pragma once
#include <atomic>
#include <condition_variable>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "redis/backoff.h"
#include "redis/pool.h"
#include "redis/redis.h"
#include "registry/entries.h"
#include "session/checkpoint.h"
#include "session/stats.h"

namespace tether {

struct CheckpointWriterConfig {
  RedisOptions redis;
  registry::Owner me;
  int64_t ttl_ms = 60000;                      // the session entry's TTL
  int64_t max_pending_bytes = int64_t{64} << 20;  // snapshots waiting to be written
  int64_t stop_timeout_ms = 2000;              // stop(): longest time spent writing what is pending
};

struct CheckpointWriterStats {
  std::atomic<uint64_t> written{0};   // records Redis stored
  std::atomic<uint64_t> bytes{0};     // ... their state bytes
  std::atomic<uint64_t> deleted{0};   // records of ended sessions deleted
  std::atomic<uint64_t> fenced{0};    // writes and deletes the entry refused (another owner or epoch, or none)
  std::atomic<uint64_t> dropped{0};   // pending writes dropped: past max_pending_bytes, or left at stop
  std::atomic<uint64_t> errors{0};    // Redis failures (each outage, error replies)
  std::atomic<uint64_t> commands{0};  // commands sent
  std::atomic<int64_t> pending{0};
  std::atomic<int64_t> pending_bytes{0};
};

class CheckpointWriter final : public CheckpointSink {
 public:
  explicit CheckpointWriter(CheckpointWriterConfig config);
  ~CheckpointWriter() override;
  void start();
  void stop();

  void checkpoint(CheckpointRecord record) override;
  void checkpoint_ended(const SessionId& sid, int64_t epoch) override;
  bool accepting() const override;
  LoadedCheckpoint load(const SessionId& sid, int64_t epoch, const std::string& app) override;

  const CheckpointWriterStats& stats() const { return stats_; }
  // The status section "checkpoints": this writer's figures and the session
  // threads' (taken, skipped_failed, skipped_too_large), with the lag from
  // snapshot to stored: lag_ms (p99 of the last kLagSamples writes) and
  // lag_max_ms (since start).
  nlohmann::json figures(const SessionStats& sessions) const;

  static constexpr size_t kLagSamples = 1024;
  static constexpr int kNoEntryTries = 5;  // writes finding no entry: tried this often, then fenced

 private:
  struct Op {
    bool del = false;
    int64_t epoch = 1;
    int64_t at_ms = 0;
    int tries = 0;
    CheckpointRecord record;  // for a write
  };
  struct Slot {
    Op op;
    std::list<SessionId>::iterator age;  // its place in order_
  };
  using Batch = std::vector<std::pair<SessionId, Op>>;

  void loop();
  bool ensure_connected();
  // Writes the batch; false when Redis failed (what was not written is put back).
  bool write(Batch& batch, bool* retry);
  // Puts ops back unless a newer one for the same session came meanwhile. Caller holds mu_.
  void put_back_locked(Batch& ops);
  void add_locked(const SessionId& sid, Op op, bool oldest);
  void drop_oldest_locked();
  static int64_t cost(const Op& op) { return op.del ? 64 : static_cast<int64_t>(op.record.state.size()) + 256; }
  void note_lag(int64_t ms);
  // The record of sid in Redis, decoded and checked (hostile input: refusals counted).
  LoadedCheckpoint read_back(const SessionId& sid, int64_t epoch, const std::string& app);

  CheckpointWriterConfig config_;
  CheckpointWriterStats stats_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<SessionId, Slot, SessionIdHash> pending_;
  std::list<SessionId> order_;  // oldest first
  int64_t pending_bytes_ = 0;
  bool stopping_ = false;
  std::thread thread_;
  // Hibernation records of the batch being written (copies; under mu_), and
  // whether Redis is down (the writer thread sets it; accepting() reads it).
  std::unordered_map<SessionId, CheckpointRecord, SessionIdHash> inflight_;
  std::atomic<bool> down_{false};
  RedisPool readers_;  // load()'s connections

  mutable std::mutex lag_mu_;
  std::vector<int64_t> lags_;  // a ring of the last kLagSamples
  size_t lag_next_ = 0;
  int64_t lag_max_ = 0;

  // Writer thread only.
  Redis redis_;
  std::string write_sha_, delete_sha_;
  Backoff backoff_;
};

}  // namespace tether
