// Decoders for what the registry reads back from Redis: session entries
// ({prefix}session:{sid}), worker heartbeat hashes ({prefix}worker:{host}:{n})
// and the members of the {prefix}workers zset. Anyone who can write to
// Redis can put anything there, so each value is decoded into a typed value
// or refused with a reason; the readers in entries.cpp count a refusal with
// firewall::refused and leave the entry out (an entry that cannot be decoded
// is treated as no entry). Nothing here throws.
//
// Thread safety: pure functions.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"
#include "registry/entries.h"

namespace tether::registry {

// The refusal kinds counted by the readers (firewall::refused).
constexpr const char* kBadSession = "registry.bad_session";    // a session entry
constexpr const char* kBadMember = "registry.bad_member";      // a {prefix}workers zset member
constexpr const char* kBadHeartbeat = "heartbeat.bad_hash";    // a worker's heartbeat hash
constexpr const char* kSelfEntry = "registry.self_entry";      // an entry naming the asking worker

// A peer address as config accepts it: "unix:/path" (1 to 107 printable
// bytes) or "IPv4:port" / "localhost:port" (port 1 to 65535).
bool valid_addr(std::string_view addr);
// A decimal integer (optional '-'), nothing else, within [min, max].
Result<int64_t> decode_int(std::string_view text, int64_t min, int64_t max);

// "{host}:{n}" of the workers zset (n 0 to 65535).
Result<std::pair<std::string, int>> decode_worker_name(std::string_view member);

// A session entry's fields (HGETALL): host, worker, addr, epoch (>= 1),
// created and last_seen (unix ms) all present and well formed.
Result<SessionEntry> decode_session(const std::map<std::string, std::string>& fields);

// A heartbeat hash's fields addr, accepting, sessions, pid, started (the
// values of HMGET in that order; a field that is absent is empty).
Result<WorkerInfo> decode_heartbeat(const std::string& host, int worker, const std::string (&values)[5]);

}  // namespace tether::registry
