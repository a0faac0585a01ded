// Docroot sync (eptic's synchronize_docroot): `tetherctl push-file` stores a
// file in Redis under {prefix}cache:docroot:<relative path> and announces it
// on the bus:log stream; every worker then writes it under its own docroot.
// A worker that starts, or that missed announcements, copies them all.
// Keys and values in Redis are hostile input: a path that is not safe, or a
// value that is not a string of at most kMaxDocrootFileBytes, is refused
// (firewall::refused("cache.bad_docroot", ...)) and nothing is written; the
// other files are still synced.
// Pure functions plus file writes; callers own the Redis connection.
#pragma once
#include <string>

#include "common/result.h"
#include "redis/redis.h"

namespace tether {

constexpr size_t kMaxDocrootFileBytes = 16 << 20;  // one pushed file
constexpr size_t kMaxDocrootPathBytes = 1024;

// A path a pushed file may have: relative, no "..", no empty or "." parts,
// valid UTF-8 without control characters (NUL, newline, ...), parts of at
// most 255 bytes, at most kMaxDocrootPathBytes in all. The error says why not.
Status check_docroot_path(const std::string& rel);
// Writes content to root/rel atomically (a temporary file, then rename),
// creating directories; a file with the same content is left alone.
Status write_docroot_file(const std::string& root, const std::string& rel, const std::string& content);
// GETs one pushed file from Redis and writes it; the error names the path.
Status fetch_docroot_file(Redis& redis, const std::string& root, const std::string& rel);
// Copies every pushed file (SCAN); returns how many were written or checked.
// Keys or values that are refused, and files that cannot be written, are
// skipped (counted in *skipped when given); a Redis error ends the sync.
Result<size_t> sync_docroot(Redis& redis, const std::string& root, size_t* skipped = nullptr);

}  // namespace tether
