// Dispatch rules: parsing and matching (see router.h).
#include "http/router.h"

namespace tether {
namespace {

// The literal text a pattern anchored with '^' must start with, so most
// rules can be skipped without running the regex.
std::string literal_prefix(const std::string& pattern) {
  // Alternation anywhere may bypass the prefix: no pre-check then.
  if (pattern.empty() || pattern[0] != '^' || pattern.find('|') != std::string::npos) return "";
  std::string out;
  for (size_t i = 1; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (std::string_view("\\.^$|?*+()[]{}").find(c) != std::string_view::npos) {
      // A quantifier makes the previous char optional: drop it.
      if ((c == '?' || c == '*' || c == '{') && !out.empty()) out.pop_back();
      break;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

Result<Router> Router::build(const nlohmann::json& rules, const std::map<std::string, RouteFactory>& factories,
                             const CacheWrapper& cache_wrapper) {
  using R = Result<Router>;
  if (!rules.is_array()) return R::error("field 'routes': expected an array of rules");
  Router router;
  for (size_t i = 0; i < rules.size(); ++i) {
    const auto& r = rules[i];
    std::string where = "routes[" + std::to_string(i) + "]";
    if (!r.is_object()) return R::error(where + ": expected an object like {\"match\": \"^/\", \"session\": \"app\"}");
    if (!r.contains("match") || !r["match"].is_string()) {
      return R::error(where + ".match: expected a regular expression string");
    }
    Rule rule;
    rule.pattern = r["match"].get<std::string>();
    try {
      rule.re = std::regex(rule.pattern, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      return R::error(where + ".match: not a valid regular expression (" + e.what() + "): " + rule.pattern);
    }
    rule.literal_prefix = literal_prefix(rule.pattern);
    std::unique_ptr<RouteHandler> made;
    std::string kinds_known;
    for (auto& [name, f] : factories) kinds_known += (kinds_known.empty() ? "" : ", ") + name;
    for (auto& [key, spec] : r.items()) {
      if (key == "match" || (key == "cache" && cache_wrapper)) continue;
      auto f = factories.find(key);
      if (f == factories.end()) return R::error(where + ": unknown key '" + key + "' (rule kinds: " + kinds_known + ")");
      if (!rule.kind.empty()) return R::error(where + ": has both '" + rule.kind + "' and '" + key + "'; one kind per rule");
      auto handler = f->second(spec);
      if (!handler) return R::error(where + "." + key + ": " + handler.message());
      rule.kind = key;
      made = std::move(handler.value());
    }
    if (rule.kind.empty()) return R::error(where + ": names no kind (one of: " + kinds_known + ")");
    if (r.contains("cache")) {
      auto wrapped = cache_wrapper(rule.kind, r["cache"], std::move(made));
      if (!wrapped) return R::error(where + ".cache: " + wrapped.message());
      made = std::move(wrapped.value());
    }
    rule.handler = std::move(made);
    router.rules_.push_back(std::move(rule));
  }
  return router;
}

int Router::match(const std::string& path, RouteMatch* out) const {
  if (path.size() > kMaxPathBytes) return -1;
  for (size_t i = 0; i < rules_.size(); ++i) {
    const Rule& rule = rules_[i];
    if (path.compare(0, rule.literal_prefix.size(), rule.literal_prefix) != 0) continue;
    std::smatch m;
    if (!std::regex_search(path, m, rule.re)) continue;
    out->capture = m.size() > 1 ? m[1].str() : path;
    return static_cast<int>(i);
  }
  return -1;
}

Response Router::dispatch(Request& req, const Forwarded* forwarded) const {
  RouteMatch m;
  m.forwarded = forwarded;
  if (req.path.size() > kMaxPathBytes) return Response::text("URI too long\n", 414);
  int i = match(req.path, &m);
  if (i < 0) return Response::text("not found\n", 404);
  return rules_[static_cast<size_t>(i)].handler->serve(req, m);
}

}  // namespace tether
