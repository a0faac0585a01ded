// CachedRoute: wraps a dispatch rule's handler with the response cache, as
// the rule's "cache" option says (see policy.h). Only GET and HEAD requests
// from clients (not requests forwarded by a peer) are looked up; only 200
// responses without Set-Cookie are stored, rendered (templates) first.
// The key is "<METHOD> <path>[?<query>]" unless the rule's is_cacheable hook
// gives another; the hook may also forbid reading or writing per request.
// While the cache service says reads are not allowed (Redis away, catching
// up), requests bypass the cache. Responses carry X-Tether-Cache:
// hit | miss | bypass. Each CachedRoute gives its policy a rule id of its
// own, so the store caps the rule's variants (store.h: max_variants); a
// request past the cap is served uncached (miss, not stored, counted).
//
// Thread safety: immutable after construction; serve() runs on every
// acceptor thread at once.
#pragma once
#include <functional>
#include <memory>

#include "cache/policy.h"
#include "cache/service.h"
#include "http/router.h"

namespace tether {

class CachedRoute final : public RouteHandler {
 public:
  // finish: renders a template response in place before it is stored.
  using Finish = std::function<void(Response&)>;
  CachedRoute(std::unique_ptr<RouteHandler> inner, CachePolicy policy, cache::Hook hook, CacheService& service,
              Finish finish)
      : inner_(std::move(inner)), policy_(std::move(policy)), hook_(std::move(hook)), service_(service),
        finish_(std::move(finish)) {
    policy_.rule = next_rule_id();
  }

  Response serve(Request& req, const RouteMatch& match) override;

 private:
  static uint64_t next_rule_id();
  std::unique_ptr<RouteHandler> inner_;
  CachePolicy policy_;
  cache::Hook hook_;  // may be empty
  CacheService& service_;
  Finish finish_;
};

// The default key of a request.
std::string cache_key(const Request& req);

}  // namespace tether
