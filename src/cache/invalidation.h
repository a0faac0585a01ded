// Invalidation messages: what travels on the {prefix}bus:log stream, and how
// one is checked and applied to a ResponseCache. One stream entry's fields:
//   type invalidate  regex <RE2 regex, optional>  groups <a,b,...>
//   origin <who sent it, optional>
//   type docroot  path <relative path>        (see follower.h, messages.h)
// so an operator can write one by hand:
//   redis-cli XADD tether:bus:log MAXLEN '~' 10000 '*' type invalidate groups news
//
// Regexes are hostile input (the admin page, tetherctl, anyone who can write
// to Redis): they are RE2 (linear-time matching, no recursion on the thread
// stack, no backreferences), at most kMaxRegexBytes long, compiled within
// kRegexMaxMem, over bytes (Latin-1 mode: a key that is not UTF-8 is
// matched byte by byte), searched in the key, not fully matched. A pattern
// RE2 refuses, or a longer one, is refused with the reason.
// Pure functions; thread-safe.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cache/store.h"
#include "common/result.h"
#include "tether/cache.h"

namespace re2 {
class RE2;
}

namespace tether {

constexpr size_t kMaxRegexBytes = 4096;        // a longer invalidation regex is refused
constexpr int64_t kRegexMaxMem = 2 << 20;      // RE2's compile (and DFA) memory per regex
constexpr size_t kMaxGroupBytes = 256;         // one group name
constexpr size_t kMaxGroupsPerInvalidation = 64;

struct CheckedInvalidation {
  std::shared_ptr<const re2::RE2> regex;  // null: no regex part
  std::string regex_text;
  std::vector<std::string> groups;
};

// Checks a request to invalidate: the regex compiles within the bounds,
// group names are non-empty UTF-8 without commas and not too long or many,
// and something is named. The error says what is wrong (quoting at most the
// start of the pattern).
Result<CheckedInvalidation> check_invalidation(const cache::Invalidation& what);
// Drops what it names from cache; returns how many entries went.
size_t apply_invalidation(ResponseCache& cache, const CheckedInvalidation& inv);

// Stream entry fields for XADD (after the "*"), and back (no checks; see
// decode_bus_log_entry in messages.h for entries read from Redis).
std::vector<std::string> invalidation_fields(const cache::Invalidation& what, const std::string& origin);
cache::Invalidation invalidation_from_fields(const std::map<std::string, std::string>& fields);

// XADD argv: {prefix}bus:log, capped at about maxlen entries.
std::vector<std::string> bus_log_xadd(const std::string& prefix, size_t maxlen, const std::vector<std::string>& fields);

// At most the first 80 bytes of s, UTF-8-safe, for error messages.
std::string quoted_start(const std::string& s);

}  // namespace tether
