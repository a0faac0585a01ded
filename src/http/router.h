// Router: the dispatch rules of tether.json, evaluated in order against the
// request path. A rule is {"match": "<RE2 pattern>", "<kind>": <spec>}; each kind
// (session, file, and those later components add) is a RouteHandler made by
// a factory registered under the kind's name. No rule matches -> 404.
//
// Patterns are RE2 syntax (https://github.com/google/re2/wiki/Syntax): no
// backreferences, no lookaround; a pattern RE2 refuses is refused by build()
// with the rule and RE2's reason. They are searched in the path (not fully
// matched: anchor with ^ and $), over bytes (Latin-1 mode, so a path that
// is not UTF-8 is matched byte by byte). Matching is linear in the path and
// uses no stack per character: every rule is tried in one pass (RE2::Set),
// then only the first matching rule runs again for its capture group.
//
// A path longer than kMaxPathBytes matches no rule and gets 414. That is a
// protocol limit, as nginx's own for a request line: a FastCGI caller that
// is not held to nginx's limit gets the same answer as one that is.
//
// Thread safety: built once, then immutable; match() and the handlers'
// serve() are called from every acceptor thread at once.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "tether/request.h"
#include "tether/response.h"

namespace re2 {
class RE2;
}

namespace tether {

// Who else took part in a request before it reached this worker, if anyone
// did (cluster/forwarded.h). The router only passes it along to the rule.
struct Forwarded;

// nginx's default limit for a request line (large_client_header_buffers 8k).
inline constexpr size_t kMaxPathBytes = 8192;

struct RouteMatch {
  std::string capture;                  // the first capture group, or the whole path if none
  const Forwarded* forwarded = nullptr;  // what dispatch() was given (null: the request came from nginx)
};

class RouteHandler {
 public:
  virtual ~RouteHandler() = default;
  // May move from req. Must not throw.
  virtual Response serve(Request& req, const RouteMatch& match) = 0;
};

// Makes the handler of one rule from its spec; the error says what was expected.
using RouteFactory = std::function<Result<std::unique_ptr<RouteHandler>>(const nlohmann::json& spec)>;
// Wraps a rule's handler according to its "cache" option (the rule's kind,
// the option's JSON, the handler); the error says what was expected.
using CacheWrapper = std::function<Result<std::unique_ptr<RouteHandler>>(
    const std::string& kind, const nlohmann::json& option, std::unique_ptr<RouteHandler> handler)>;

// Checks a rule option other than "cache" (its key, e.g. "checkpoint"): the
// rule's kind and spec (the value under the kind's key) and the option's
// value; the error says what was expected. A rule may carry only the
// options given to build().
using RuleOption = std::function<Status(const std::string& kind, const nlohmann::json& spec,
                                        const nlohmann::json& option)>;

class Router {
 public:
  // rules: the "routes" array. factories: kind name -> factory. A rule may
  // also carry "cache": <option>, handed to cache_wrapper (refused without one).
  static Result<Router> build(const nlohmann::json& rules, const std::map<std::string, RouteFactory>& factories,
                              const CacheWrapper& cache_wrapper = nullptr,
                              const std::map<std::string, RuleOption>& options = {});

  // Serves the request with the first matching rule, or 404 (414 for a path
  // longer than kMaxPathBytes).
  Response dispatch(Request& req, const Forwarded* forwarded = nullptr) const;
  size_t size() const { return rules_.size(); }
  // As dispatch(); *rule is set to the index of the rule that served it (-1:
  // none), so a caller that logs the rule need not match the path again.
  Response dispatch(Request& req, const Forwarded* forwarded, int* rule) const;
  // Index of the first rule matching path (-1: none, or path too long), and its capture.
  int match(const std::string& path, RouteMatch* out) const;
  // The pattern of rule i (from match()).
  const std::string& pattern(int i) const { return rules_[static_cast<size_t>(i)].pattern; }

 private:
  struct Rule {
    std::string pattern;
    std::string kind;
    std::shared_ptr<const re2::RE2> re;
    std::shared_ptr<RouteHandler> handler;
  };
  struct Matcher;  // every rule's pattern in one RE2::Set (router.cpp)
  // The first rule whose pattern is found in path, or -1.
  int first_match(const std::string& path) const;
  std::vector<Rule> rules_;
  std::shared_ptr<const Matcher> all_;  // null: no rules
};

}  // namespace tether
