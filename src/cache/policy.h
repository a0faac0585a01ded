// CachePolicy: what a dispatch rule's "cache" option says about storing its
// responses. Parsed once when the rules load; an immutable value after that.
//
//   "cache": "no_cache" | "normal" | "persistent" | {"timeout": seconds}
//   "cache": {"type": "normal"|"persistent"|"no_cache", "timeout": seconds,
//             "groups": ["news", ...], "hook": "<is_cacheable hook name>"}
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace tether {

enum class CacheMode { None, Normal, Persistent, Timeout };

struct CachePolicy {
  CacheMode mode = CacheMode::None;
  Millis timeout_ms = 0;            // Timeout only
  std::vector<std::string> groups;  // groups every entry stored under this policy joins
  std::string hook;                 // an is_cacheable hook registered by the app, or ""
  uint64_t rule = 0;                // set by CachedRoute: whose variants count (store.h); 0 = uncounted
};

// The error says what was expected.
Result<CachePolicy> parse_cache_policy(const nlohmann::json& spec);
const char* cache_mode_name(CacheMode m);

}  // namespace tether
