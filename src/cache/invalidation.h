// Invalidation messages: what travels on the {prefix}bus:log stream, and how
// one is checked and applied to a ResponseCache. One stream entry's fields:
//   type invalidate  regex <ECMAScript regex, optional>  groups <a,b,...>
//   origin <who sent it, optional>
//   type docroot  path <relative path>        (see follower.h)
// so an operator can write one by hand:
//   redis-cli XADD tether:bus:log MAXLEN '~' 10000 '*' type invalidate groups news
// Pure functions; thread-safe.
#pragma once
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "cache/store.h"
#include "common/result.h"
#include "tether/cache.h"

namespace tether {

struct CheckedInvalidation {
  std::optional<std::regex> regex;  // none: no regex part
  std::string regex_text;
  std::vector<std::string> groups;
};

// Checks a request to invalidate: the regex compiles, group names are
// non-empty without commas, and something is named. The error says what is wrong.
Result<CheckedInvalidation> check_invalidation(const cache::Invalidation& what);
// Drops what it names from cache; returns how many entries went.
size_t apply_invalidation(ResponseCache& cache, const CheckedInvalidation& inv);

// Stream entry fields for XADD (after the "*"), and back.
std::vector<std::string> invalidation_fields(const cache::Invalidation& what, const std::string& origin);
cache::Invalidation invalidation_from_fields(const std::map<std::string, std::string>& fields);

// XADD argv: {prefix}bus:log, capped at about maxlen entries.
std::vector<std::string> bus_log_xadd(const std::string& prefix, size_t maxlen, const std::vector<std::string>& fields);

}  // namespace tether
