// The session and worker entries in Redis, and the Lua scripts that change
// them. Key layout (prefix from the config, default "tether:"):
//   {prefix}session:{sid hex}   hash host, worker, addr, epoch, created, last_seen; PEXPIRE ttl
//   {prefix}worker:{host}:{n}   hash addr, pid, sessions, accepting, started, figures; PEXPIRE 3 heartbeats
//   {prefix}workers             zset "{host}:{n}", score = last heartbeat (unix ms)
// Ownership is compare-and-set on (host, worker, epoch): a worker refreshes
// or deletes an entry only while it still owns it, and an entry moves to
// another owner only from the epoch the mover read.
//
// Thread safety: pure functions over a Redis the caller owns.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "redis/redis.h"
#include "token/session_id.h"

namespace tether::registry {

struct Owner {
  std::string host;
  int worker = 0;
  std::string addr;  // where peers reach this worker over FastCGI
};

struct SessionEntry {
  Owner owner;
  int64_t epoch = 0;
  int64_t created_ms = 0;
  int64_t last_seen_ms = 0;
};

std::string session_key(const std::string& prefix, const SessionId& sid);
std::string worker_name(const std::string& host, int worker);  // "{host}:{n}"

// EVAL argv: create the entry (epoch given) or refresh it if we own it.
// Reply 1: ours now; 0: another owner holds it (we lost it).
std::vector<std::string> upsert_argv(const std::string& prefix, const SessionId& sid, const Owner& me, int64_t epoch,
                                     int64_t created_ms, int64_t now_ms, int64_t ttl_ms);
// Queues (pipelines) the entry of a session this worker just made:
// create-if-absent (the upsert script at epoch 1), one reply: 1 ours, 0
// another owner holds it. A create still queued when a drain moved the
// session on must not name this worker again over its new owner's entry.
void append_create(Redis& redis, const SessionId& sid, const Owner& me, int64_t created_ms, int64_t ttl_ms);
// Queues the first write of a session this worker just made, without a
// script: HSET of every field at epoch 1 and PEXPIRE, two commands, two
// replies (HSET's: the fields added, kFreshFields when the entry was new).
// Unconditional: only for an id no other worker can have written yet (the
// registry's first attempt, before anyone read the epoch to move it: see
// Registry::epoch); any later write goes through the upsert script.
void append_fresh_create(Redis& redis, const SessionId& sid, const Owner& me, int64_t created_ms, int64_t now_ms,
                         int64_t ttl_ms);
inline constexpr long long kFreshFields = 6;
// EVAL argv: delete the entry if we own it. Reply 1 deleted, 0 not ours/gone.
std::vector<std::string> release_argv(const std::string& prefix, const SessionId& sid, const Owner& me,
                                      int64_t epoch);
// EVAL argv: move the entry to `to` if it still names `from` (host, worker)
// at from_epoch, compared in the same script; the epoch becomes from_epoch
// + 1. Reply the new epoch, 0 if the owner or epoch changed, -1 if there is
// no entry (then create-if-absent above from_epoch: upsert_argv).
std::vector<std::string> transfer_argv(const std::string& prefix, const SessionId& sid, const Owner& from,
                                       int64_t from_epoch, const Owner& to, int64_t now_ms, int64_t ttl_ms);

// The scripts' text, for SCRIPT LOAD; then argv[0..1] may become EVALSHA, sha.
const char* upsert_script();
const char* release_script();

// Reads one entry; nullopt if there is none, or if it does not decode
// (registry/decode.h; counted as "registry.bad_session"). Error if Redis fails.
Result<std::optional<SessionEntry>> read_session(Redis& redis, const SessionId& sid);

struct WorkerInfo {
  std::string host;
  int worker = 0;
  std::string addr;
  bool accepting = true;
  int64_t sessions = 0;
  int64_t pid = 0;
  int64_t started_ms = 0;    // unix ms
  int64_t heartbeat_ms = 0;  // unix ms of the last heartbeat
  std::string figures;       // the worker's status JSON (written, not read by read_workers)
};
// Queues (pipelines) this worker's heartbeat: its hash, its zset score, and
// the removal of workers silent for longer than 10 heartbeats.
void append_heartbeat(Redis& redis, const WorkerInfo& me, int64_t now_ms, int64_t heartbeat_ms);
// Live workers: heartbeat within 3 intervals. Two round trips. A zset member
// that is not "host:n" or a heartbeat hash that does not decode leaves that
// worker out (counted: "registry.bad_member", "heartbeat.bad_hash").
Result<std::vector<WorkerInfo>> read_workers(Redis& redis, int64_t now_ms, int64_t heartbeat_ms);

}  // namespace tether::registry
