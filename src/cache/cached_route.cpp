// A rule's handler behind the response cache (see cached_route.h).
#include "cache/cached_route.h"

#include <atomic>

#include "common/log.h"

namespace tether {
namespace {

bool sets_cookie(const Response& r) {
  for (const auto& [k, v] : r.headers) {
    if (k.size() == 10 && strncasecmp(k.c_str(), "set-cookie", 10) == 0) return true;
  }
  return false;
}

Response marked(Response r, const char* how) {
  r.header("X-Tether-Cache", how);
  return r;
}

}  // namespace

uint64_t CachedRoute::next_rule_id() {
  static std::atomic<uint64_t> next{1};  // 0 means "not a rule" (fragments)
  return next++;
}

std::string cache_key(const Request& req) {
  std::string key;
  key.reserve(req.method.size() + req.path.size() + req.query.size() + 2);
  key.append(req.method).append(" ").append(req.path);
  if (!req.query.empty()) key.append("?").append(req.query);
  return key;
}

Response CachedRoute::serve(Request& req, const RouteMatch& match) {
  if (policy_.mode == CacheMode::None || match.forwarded != nullptr || (req.method != "GET" && req.method != "HEAD")) {
    return inner_->serve(req, match);
  }
  cache::Decision d;
  if (hook_) {
    try {
      d = hook_(req);
    } catch (const std::exception& e) {
      log::error("cache_hook_threw", {{"path", req.path}, {"what", e.what()}});
      d.read = d.write = false;
    }
  }
  std::string key = d.key.empty() ? cache_key(req) : std::move(d.key);
  bool reads = d.read && service_.reads_allowed();
  if (reads) {
    if (auto hit = service_.store().get(key)) return marked(*hit, "hit");
  }
  uint64_t generation = service_.store().generation();
  Response r = inner_->serve(req, match);
  finish_(r);
  if (d.write && r.status == 200 && !sets_cookie(r)) service_.store().put(key, r, policy_, generation);
  return marked(std::move(r), reads ? "miss" : "bypass");
}

}  // namespace tether
