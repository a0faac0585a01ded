// Shipper: one thread per worker that reads the worker's journal files and
// stores every entry in Redis (store.h), then moves a durable checkpoint.
//
// Why a thread and not a separate process under supervisord: it wakes the
// moment an entry is appended (a condition variable, no polling of the
// disk), shares the worker's figures for the status endpoint without IPC,
// and starts and drains with the worker. Nothing is lost by being in the
// worker: the shipper reads only the files, so a crashed worker's entries
// are shipped by the same worker when supervisord restarts it (the files
// and the checkpoint are on disk; the Redis marks make the re-send harmless).
//
// Order of events for a batch: read lines from disk -> store them in Redis
// (one Lua script: idempotent by source and seq) -> Redis acknowledged ->
// move the checkpoint (written and fsynced at most every 100 ms, and when
// idle or moving to the next file) -> delete journal files that are wholly
// before the checkpoint and older than the previous period. A crash between
// any two steps re-sends at most 100 ms of batches, which Redis ignores.
//
// Redis' persistence (redis_persistence.h) is read at start and again
// before shipping after each outage (a restarted Redis may have other
// settings). When acknowledged entries would not survive a Redis restart
// (AOF off, or CONFIG refused so nobody can tell), the shipper logs
// "journal_redis_not_durable" once per change of the settings and ships on;
// with journal.require_durable_redis, start() fails instead when Redis is
// reachable, and otherwise the shipper holds the entries on disk (counted as
// pending, "held_not_durable" in the status) and reads the settings again
// after each backoff until they are durable.
//
// Redis down: the batch stays in memory, entries accumulate on disk, the
// shipper retries with a backoff (100 ms doubling to backoff_max_ms) and
// logs "journal_redis_down" once per outage and "journal_redis_up" after.
//
// Thread safety: start()/stop() from the worker's main thread; figures in
// JournalStats (atomics); on_shipped runs on the shipper thread.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "journal/journal.h"
#include "journal/reader.h"
#include "journal/redis_persistence.h"
#include "redis/backoff.h"
#include "redis/redis.h"

namespace tether::journal {

class Shipper {
 public:
  Shipper(Journal& journal, RedisOptions redis, JournalStats& stats);
  ~Shipper() { stop(0); }
  Shipper(const Shipper&) = delete;
  Shipper& operator=(const Shipper&) = delete;

  // Reads the checkpoint (a damaged one is an error) and starts the thread.
  Status start();
  // Ships what is on disk for at most flush_ms (none if Redis is down),
  // then stops. Entries left stay on disk for the next start.
  void stop(int flush_ms);

  // Tests and the benchmark: every acknowledged batch, with the time of
  // Redis' acknowledgement (µs since the epoch).
  std::function<void(const std::vector<Entry>&, int64_t ack_us)> on_shipped;

 private:
  void loop();
  bool ship(Batch& batch);       // true once Redis acknowledged (and min_replicas_ack replicas have it)
  bool replicated();             // WAIT min_replicas_ack: true when enough replicas confirm the last write
  // Reads Redis' persistence if not read since the last outage; false when
  // entries must not be shipped now (Redis down, or held: not durable).
  bool durable_enough();
  Status judge(const Persistence& p);  // records and logs p; error: require_durable_redis refuses it
  void commit(const Batch& batch);
  void save();                    // the checkpoint, if it moved
  void delete_old_files();
  void tick();                    // once a second: rate, consumer figures, files
  void outage(const std::string& error);
  void redis_back();              // logs the end of an outage, if there was one
  void update_pending();
  bool wait_stop(int ms);         // true when stopping

  Journal& journal_;
  Redis redis_;
  JournalStats& stats_;
  JournalReader reader_{"", {}};
  uint64_t base_pending_ = 0;     // lines on disk after the checkpoint at start
  uint64_t consumed_ = 0;         // lines shipped or skipped since start
  bool persistence_read_ = false;  // since the last outage
  RedisAof logged_aof_ = RedisAof::Unchecked;
  int64_t checkpoint_ms_ = 0;
  bool checkpoint_dirty_ = false;
  Backoff backoff_;  // 100 ms doubling to backoff_max_ms; the outage logged once
  std::atomic<int64_t> replica_log_{0};  // log::every stamp
  std::set<std::string> domains_;
  int64_t last_tick_ms_ = 0;
  uint64_t last_tick_shipped_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int64_t flush_deadline_ms_ = 0;
  std::thread thread_;
};

}  // namespace tether::journal
