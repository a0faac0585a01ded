// Parsing a rule's "cache" option (see policy.h).
#include "cache/policy.h"

#include <set>

namespace tether {
namespace {

constexpr const char* kExpected =
    "expected \"no_cache\", \"normal\", \"persistent\", {\"timeout\": seconds} or "
    "{\"type\": ..., \"timeout\": seconds, \"groups\": [...], \"hook\": name}";

bool mode_of(const std::string& name, CacheMode* out) {
  if (name == "no_cache") *out = CacheMode::None;
  else if (name == "normal") *out = CacheMode::Normal;
  else if (name == "persistent") *out = CacheMode::Persistent;
  else if (name == "timeout") *out = CacheMode::Timeout;
  else return false;
  return true;
}

}  // namespace

const char* cache_mode_name(CacheMode m) {
  switch (m) {
    case CacheMode::None: return "no_cache";
    case CacheMode::Normal: return "normal";
    case CacheMode::Persistent: return "persistent";
    case CacheMode::Timeout: return "timeout";
  }
  return "?";
}

Result<CachePolicy> parse_cache_policy(const nlohmann::json& spec) {
  using R = Result<CachePolicy>;
  CachePolicy p;
  if (spec.is_string()) {
    if (!mode_of(spec.get<std::string>(), &p.mode) || p.mode == CacheMode::Timeout) {
      return R::error(std::string(kExpected) + ", got " + spec.dump());
    }
    return p;
  }
  if (!spec.is_object()) return R::error(std::string(kExpected) + ", got " + spec.dump());
  static const std::set<std::string> known = {"type", "timeout", "groups", "hook"};
  for (auto& [k, v] : spec.items()) {
    if (!known.count(k)) return R::error("unknown key '" + k + "' (" + kExpected + ")");
  }
  p.mode = CacheMode::Normal;
  if (spec.contains("type")) {
    if (!spec["type"].is_string() || !mode_of(spec["type"].get<std::string>(), &p.mode)) {
      return R::error("type: expected \"no_cache\", \"normal\", \"persistent\" or \"timeout\", got " +
                      spec["type"].dump());
    }
  }
  if (spec.contains("timeout")) {
    const auto& t = spec["timeout"];
    if (!t.is_number() || t.get<double>() <= 0 || t.get<double>() > 365.0 * 86400) {
      return R::error("timeout: expected seconds, more than 0 and at most a year, got " + t.dump());
    }
    if (spec.contains("type") && p.mode != CacheMode::Timeout) {
      return R::error("timeout: given with type " + spec["type"].dump() + "; use type \"timeout\" or leave type out");
    }
    p.mode = CacheMode::Timeout;
    p.timeout_ms = static_cast<Millis>(t.get<double>() * 1000);
  } else if (p.mode == CacheMode::Timeout) {
    return R::error("type \"timeout\" needs \"timeout\": seconds");
  }
  if (spec.contains("groups")) {
    if (!spec["groups"].is_array()) return R::error("groups: expected an array of group names");
    for (const auto& g : spec["groups"]) {
      if (!g.is_string() || g.get<std::string>().empty()) return R::error("groups: expected non-empty strings, got " + g.dump());
      p.groups.push_back(g.get<std::string>());
    }
  }
  if (spec.contains("hook")) {
    if (!spec["hook"].is_string()) return R::error("hook: expected the name of an is_cacheable hook");
    p.hook = spec["hook"].get<std::string>();
  }
  return p;
}

}  // namespace tether
