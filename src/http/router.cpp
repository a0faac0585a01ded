// Dispatch rules: parsing and matching (see router.h).
#include "http/router.h"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>

namespace tether {

// Every rule's pattern, compiled together: one pass over the path says
// which rules match anywhere in it.
struct Router::Matcher {
  explicit Matcher(const RE2::Options& opts) : set(opts, RE2::UNANCHORED) {}
  RE2::Set set;
};

namespace {

// The memory one RE2 (and the Set of all of them) may take to compile and
// to keep its DFA; a pattern beyond it is refused with RE2's reason.
constexpr int64_t kRuleMaxMem = int64_t{8} << 20;
constexpr int64_t kSetMaxMem = int64_t{64} << 20;

RE2::Options rule_options(int64_t max_mem) {
  RE2::Options opts;
  opts.set_encoding(RE2::Options::EncodingLatin1);  // bytes, as the path is
  opts.set_log_errors(false);
  opts.set_max_mem(max_mem);
  return opts;
}

}  // namespace

Result<Router> Router::build(const nlohmann::json& rules, const std::map<std::string, RouteFactory>& factories,
                             const CacheWrapper& cache_wrapper, const std::map<std::string, RuleOption>& options) {
  using R = Result<Router>;
  if (!rules.is_array()) return R::error("field 'routes': expected an array of rules");
  Router router;
  auto matcher = std::make_shared<Matcher>(rule_options(kSetMaxMem));
  for (size_t i = 0; i < rules.size(); ++i) {
    const auto& r = rules[i];
    std::string where = "routes[" + std::to_string(i) + "]";
    if (!r.is_object()) return R::error(where + ": expected an object like {\"match\": \"^/\", \"session\": \"app\"}");
    if (!r.contains("match") || !r["match"].is_string()) {
      return R::error(where + ".match: expected a regular expression string");
    }
    Rule rule;
    rule.pattern = r["match"].get<std::string>();
    auto re = std::make_shared<const RE2>(rule.pattern, rule_options(kRuleMaxMem));
    if (!re->ok()) {
      return R::error(where + ".match: not a valid RE2 regular expression (" + re->error() + "): " + rule.pattern);
    }
    std::string set_error;
    if (matcher->set.Add(rule.pattern, &set_error) != static_cast<int>(i)) {
      return R::error(where + ".match: not a valid RE2 regular expression (" + set_error + "): " + rule.pattern);
    }
    rule.re = std::move(re);
    std::unique_ptr<RouteHandler> made;
    std::string kinds_known;
    for (auto& [name, f] : factories) kinds_known += (kinds_known.empty() ? "" : ", ") + name;
    for (auto& [key, spec] : r.items()) {
      if (key == "match" || (key == "cache" && cache_wrapper) || options.count(key)) continue;
      auto f = factories.find(key);
      if (f == factories.end()) return R::error(where + ": unknown key '" + key + "' (rule kinds: " + kinds_known + ")");
      if (!rule.kind.empty()) return R::error(where + ": has both '" + rule.kind + "' and '" + key + "'; one kind per rule");
      auto handler = f->second(spec);
      if (!handler) return R::error(where + "." + key + ": " + handler.message());
      rule.kind = key;
      made = std::move(handler.value());
    }
    if (rule.kind.empty()) return R::error(where + ": names no kind (one of: " + kinds_known + ")");
    for (auto& [key, check] : options) {
      if (!r.contains(key)) continue;
      if (Status s = check(rule.kind, r[rule.kind], r[key]); !s) return R::error(where + "." + key + ": " + s.message());
    }
    if (r.contains("cache")) {
      auto wrapped = cache_wrapper(rule.kind, r["cache"], std::move(made));
      if (!wrapped) return R::error(where + ".cache: " + wrapped.message());
      made = std::move(wrapped.value());
    }
    rule.handler = std::move(made);
    router.rules_.push_back(std::move(rule));
  }
  if (!router.rules_.empty()) {
    if (!matcher->set.Compile()) {
      return R::error("routes: the " + std::to_string(router.rules_.size()) + " patterns together need more than " +
                      std::to_string(kSetMaxMem >> 20) + " MiB to compile; use fewer or simpler ones");
    }
    router.all_ = std::move(matcher);
  }
  return router;
}

int Router::first_match(const std::string& path) const {
  if (!all_) return -1;
  thread_local std::vector<int> hits;  // this thread's, reused: no allocation per request
  hits.clear();
  RE2::Set::ErrorInfo info{};
  if (all_->set.Match(path, &hits, &info)) return *std::min_element(hits.begin(), hits.end());
  if (info.kind == RE2::Set::kNoError) return -1;
  // The set's DFA ran out of memory: the rules one by one (each falls back
  // to its NFA, still linear).
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (RE2::PartialMatch(path, *rules_[i].re)) return static_cast<int>(i);
  }
  return -1;
}

int Router::match(const std::string& path, RouteMatch* out) const {
  if (path.size() > kMaxPathBytes) return -1;
  int i = first_match(path);
  if (i < 0) return -1;
  const RE2& re = *rules_[static_cast<size_t>(i)].re;
  if (re.NumberOfCapturingGroups() == 0) {
    out->capture = path;
  } else if (!RE2::PartialMatch(path, re, &out->capture)) {
    return -1;  // the set and the rule disagree: cannot happen (same pattern, same options)
  }
  return i;
}

Response Router::dispatch(Request& req, const Forwarded* forwarded) const {
  int rule = -1;
  return dispatch(req, forwarded, &rule);
}

Response Router::dispatch(Request& req, const Forwarded* forwarded, int* rule) const {
  RouteMatch m;
  m.forwarded = forwarded;
  *rule = -1;
  if (req.path.size() > kMaxPathBytes) return Response::text("URI too long\n", 414);
  int i = match(req.path, &m);
  if (i < 0) return Response::text("not found\n", 404);
  *rule = i;
  return rules_[static_cast<size_t>(i)].handler->serve(req, m);
}

}  // namespace tether
