// tether::cache: invalidating the response cache of every worker on every
// host from application code. A call applies to this worker's cache at once
// and is broadcast through Redis (the {prefix}bus:log stream); a worker that
// was disconnected replays what it missed when it reconnects. When Redis is
// down the broadcast waits in memory and is sent when it is back.
//
//   tether::cache::invalidate_groups({"news"});          // after a change
//   app.controller("save", tether::cache::invalidate_if_ok(save, {"^GET /news", {"news"}}));
//
// Keys are "<METHOD> <path>[?<query>]" ("GET /news?page=2") unless an
// is_cacheable hook chose another; fragments are "fragment:<id>".
// Thread safety: every function may be called from any thread.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "tether/request.h"
#include "tether/response.h"

namespace tether::cache {

struct [[nodiscard]] Outcome {
  bool ok = true;
  std::string error;  // why not, when !ok
  explicit operator bool() const { return ok; }
};

// What to drop: keys matching regex (RE2 syntax over bytes, Latin-1; at most
// 4096 bytes; searched, not anchored; no backreferences; "" matches nothing)
// and every member of each group.
struct Invalidation {
  std::string regex;
  std::vector<std::string> groups;
};

// Fails (and drops nothing anywhere) for a bad regex, or when this process
// serves no cache (no worker running, or no "cache" section in tether.json).
Outcome invalidate(const Invalidation& what);
inline Outcome invalidate(const std::string& regex) { return invalidate(Invalidation{regex, {}}); }
inline Outcome invalidate_groups(std::vector<std::string> groups) { return invalidate(Invalidation{"", std::move(groups)}); }

// eptic's INVALIDATE_IF: wraps a handler; after it returns a status below
// 400, `what` is invalidated. The regex is checked now (a bad one throws
// std::invalid_argument at registration, before serving).
std::function<Response(const Request&)> invalidate_if_ok(std::function<Response(const Request&)> handler,
                                                         Invalidation what);

// is_cacheable hook: decides per request whether the cache may be read and
// written, and under which key ("" keeps the default key). Registered by
// name with App::cache_hook and named by a rule's "cache": {"hook": ...}.
struct Decision {
  bool read = true;
  bool write = true;
  std::string key;
};
using Hook = std::function<Decision(const Request&)>;

}  // namespace tether::cache
