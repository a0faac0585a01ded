// JournalStats: the journal's and the shipper's figures, for the status
// endpoint and tetherctl. Written by the appending threads and the shipper
// thread, read from anywhere: every field is an atomic.
#pragma once
#include <atomic>
#include <cstdint>

namespace tether::journal {

struct JournalStats {
  // Journal (appending threads and the fsync thread).
  std::atomic<uint64_t> appended{0};       // entries written by this process
  std::atomic<uint64_t> append_errors{0};  // appends refused: bad input, write or fsync failure
  std::atomic<uint64_t> fsyncs{0};
  std::atomic<uint64_t> fsync_errors{0};
  std::atomic<bool> failed{false};         // an fsync failed: every later append fails
  // Shipper thread.
  std::atomic<int64_t> pending{0};         // entries on disk not yet acknowledged by Redis
  std::atomic<int64_t> oldest_unshipped_us{0};  // time of the oldest of them, 0 when none
  std::atomic<uint64_t> shipped{0};        // entries acknowledged by Redis
  std::atomic<uint64_t> duplicates{0};     // ... of which Redis already had (a retry)
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> replica_waits_short{0};  // batches WAIT did not confirm on min_replicas_ack replicas in time
  std::atomic<double> shipped_per_s{0};    // over the last few seconds
  std::atomic<uint64_t> corrupt{0};        // lines skipped: checksum, truncated, bad JSON
  std::atomic<uint64_t> files_deleted{0};
  std::atomic<int64_t> files{0};           // journal files on disk
  std::atomic<bool> redis_up{false};
  std::atomic<int> redis_aof{0};           // RedisAof (redis_persistence.h), read at start and after each outage
  std::atomic<bool> held_not_durable{false};  // require_durable_redis and Redis would not keep them: not shipping
  std::atomic<uint64_t> outages{0};
  std::atomic<int64_t> consumer_waiting{0};  // entries in the lists this worker ships to (refreshed each second)
  std::atomic<int64_t> consumer_leased{0};   // ... taken by a consumer, not yet done
};

}  // namespace tether::journal
