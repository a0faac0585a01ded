// Docroot sync (eptic's synchronize_docroot): `tetherctl push-file` stores a
// file in Redis under {prefix}cache:docroot:<relative path> and announces it
// on the bus:log stream; every worker then writes it under its own docroot.
// A worker that starts, or that missed announcements, copies them all.
// Pure functions plus file writes; callers own the Redis connection.
#pragma once
#include <string>

#include "common/result.h"
#include "registry/redis.h"

namespace tether {

// A path a pushed file may have: relative, no "..", no empty or "." parts,
// no NUL; at most 1024 bytes. The error says why not.
Status check_docroot_path(const std::string& rel);
// Writes content to root/rel atomically (a temporary file, then rename),
// creating directories; a file with the same content is left alone.
Status write_docroot_file(const std::string& root, const std::string& rel, const std::string& content);
// GETs one pushed file from Redis and writes it; the error names the path.
Status fetch_docroot_file(Redis& redis, const std::string& root, const std::string& rel);
// Copies every pushed file (SCAN); returns how many were written or checked.
Result<size_t> sync_docroot(Redis& redis, const std::string& root);

}  // namespace tether
