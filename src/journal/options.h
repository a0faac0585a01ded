// JournalOptions: the "journal" section of tether.json, checked.
//
//   "journal": {"dir": "journal", "fsync": "batch", "fsync_interval_ms": 50,
//               "rollover_s": 3600, "batch_max": 1000, "backoff_max_ms": 2000,
//               "require_durable_redis": false, "min_replicas_ack": 0,
//               "replicas_ack_timeout_ms": 1000}
//
// Every error names the file, the field and what was expected.
// Thread safety: a plain value, read-only after parsing.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"

namespace tether::journal {

enum class Fsync { Always, Batch, None };
const char* to_string(Fsync f);

struct JournalOptions {
  std::string dir;              // this worker's own directory: "{dir}/{host}-{worker}"
  Fsync fsync = Fsync::Batch;
  int fsync_interval_ms = 50;   // batch: group commit period
  int64_t rollover_s = 3600;    // a new file every this many seconds (wall clock, aligned)
  int batch_max = 1000;         // entries per Redis round trip
  int backoff_max_ms = 2000;    // Redis down: retry period grows to this
  // Redis' AOF off (or its settings unknown): false warns and ships; true
  // refuses to start (Redis reachable at start) or holds the entries on disk
  // until Redis keeps what it acknowledges (see shipper.h).
  bool require_durable_redis = false;
  // With Redis replicas: the checkpoint moves past a shipped batch only once
  // WAIT says this many replicas have it (0: once the master has it). A
  // batch not confirmed in replicas_ack_timeout_ms is shipped again later
  // (idempotent), so a failover to a confirmed replica loses nothing.
  int min_replicas_ack = 0;
  int replicas_ack_timeout_ms = 1000;
  // Wall clock in µs; tests replace it to cross an hour at once.
  std::function<int64_t()> now_us;
  // fdatasync(2) of the journal's files; tests replace it to inject a failure.
  std::function<int(int fd)> fdatasync;
};

// section: Config::journal (an object). base_dir resolves a relative dir;
// route ("{host}-{worker}") names this worker's subdirectory.
Result<JournalOptions> parse_options(const nlohmann::json& section, const std::string& file,
                                     const std::string& base_dir, const std::string& route);

int64_t wall_us();  // µs since the Unix epoch

}  // namespace tether::journal
