// Decoders for what the cache reads from Redis (issue 14): replies holding
// {prefix}bus:log stream entries (XREAD, XREVRANGE) and each entry's fields
// (an invalidation or a docroot push). Anyone who can write to Redis can
// write any bytes there, so each decoder returns a typed value or a reason;
// callers refuse (firewall::refused("cache.bad_invalidation" /
// "cache.bad_stream_entry" / "cache.bad_docroot", reason)), count, and
// change nothing.
//
// An entry's fields: at most kMaxEntryFields pairs, no name twice, a "type".
//   invalidate: regex and/or groups (comma-separated, no empty part), origin;
//               checked by check_invalidation (RE2, length bounds).
//   docroot:    path (check_docroot_path), origin.
//   any other type made of [a-z0-9_.-] (at most 64 bytes) belongs to another
//   component or a newer version: Kind::Other, ignored.
// Fields other than these are ignored (a newer sender may add some).
// Pure functions; thread-safe.
#pragma once
#include <hiredis/hiredis.h>

#include <string>
#include <utility>
#include <vector>

#include "cache/invalidation.h"
#include "common/result.h"

namespace tether {

constexpr size_t kMaxEntryFields = 32;
constexpr size_t kMaxOriginBytes = 256;

using StreamFields = std::vector<std::pair<std::string, std::string>>;

struct StreamEntry {
  std::string id;  // "ms-seq", always valid
  StreamFields fields;
  std::string error;  // non-empty: the fields were not pairs of strings (fields empty)
};

// "ms-seq" with both numbers decimal and within 64 bits.
bool valid_stream_id(const std::string& id);
// An array of entries ([id, [field, value, ...]], ...), as XRANGE/XREVRANGE
// return. Refused (whole) when it is no array or an entry has no valid id.
Result<std::vector<StreamEntry>> decode_stream_entries(const redisReply* r);
// XREAD ... STREAMS <one key> <id>: nil (nothing new) or [[key, entries]].
Result<std::vector<StreamEntry>> decode_xread_reply(const redisReply* r);

struct BusLogEntry {
  enum class Kind { Invalidate, Docroot, Other };
  Kind kind = Kind::Other;
  std::string type;
  std::string origin;                // "" when absent
  CheckedInvalidation invalidation;  // Invalidate
  std::string path;                  // Docroot: checked relative path
};

// The error says what is wrong with the entry.
Result<BusLogEntry> decode_bus_log_entry(const StreamFields& fields);

}  // namespace tether
