// CacheSettings: the "cache" section of tether.json, read when a worker
// loads. Every worker has a cache; the section only tunes it:
//   "cache": {"max_bytes": 67108864, "stale_after_ms": 5000,
//             "stream_maxlen": 10000, "docroot": "static", "max_variants": 1000}
// An immutable value after parsing.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "common/clock.h"
#include "common/result.h"

namespace tether {

struct CacheSettings {
  size_t max_bytes = 64 << 20;   // memory for cached responses and fragments
  Millis stale_after_ms = 5000;  // Redis unreachable this long: no cache reads until caught up
  size_t stream_maxlen = 10000;  // invalidations kept in {prefix}bus:log for workers catching up
  std::string docroot;           // where `tetherctl push-file` writes ("" = docroot sync off)
  size_t max_variants = 1000;    // entries one cached rule may hold (its path and query variants); see store.h
};

// section: Config::cache (null = defaults). base_dir resolves a relative
// docroot. Errors read "field 'cache.<name>': expected ...".
Result<CacheSettings> parse_cache_settings(const nlohmann::json& section, const std::string& base_dir);

}  // namespace tether
