// What the Redis that stores journal entries promises to keep: its AOF
// settings, read with CONFIG GET appendonly / appendfsync, and what they mean
// for an entry Redis has acknowledged (see README.md, "What the journal keeps").
//
//   appendonly no              a Redis restart (kill -9, crash, reboot) drops
//                              every entry not yet consumed: NOT durable
//   appendonly yes, fsync no   survives a Redis kill -9; a power loss of the
//                              Redis host loses what the kernel had not written
//   ... everysec               survives kill -9; power loss: about 1 s (at most 2 s)
//   ... always                 survives both
//
// CONFIG may be renamed or refused (ACL): the settings are then Unknown and
// the reason is kept. A reply of an unexpected shape is refused and counted
// (firewall "journal.bad_config_reply") and is Unknown too.
// Thread safety: plain functions over a Redis the caller owns.
#pragma once
#include <hiredis/hiredis.h>

#include <string>

#include "common/result.h"
#include "redis/redis.h"

namespace tether::journal {

enum class RedisAof : int { Unchecked = 0, Off, No, Everysec, Always, Unknown };
const char* to_string(RedisAof a);
// True when an acknowledged entry survives a restart of the Redis process.
inline bool survives_restart(RedisAof a) {
  return a == RedisAof::No || a == RedisAof::Everysec || a == RedisAof::Always;
}

struct Persistence {
  RedisAof aof = RedisAof::Unchecked;
  std::string why;  // Unknown: the reason (CONFIG refused, a bad reply)
};

// Decodes the two CONFIG GET replies (pure; any reply, never throws).
Persistence decode_persistence(const redisReply* appendonly, const redisReply* appendfsync);
// Asks Redis. An error only when Redis could not be reached (the connection
// is closed then); a refused CONFIG is an Unknown Persistence.
Result<Persistence> read_persistence(Redis& redis);

}  // namespace tether::journal
