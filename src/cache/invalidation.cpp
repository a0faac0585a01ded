// Invalidation messages: checking, applying, stream encoding (see invalidation.h).
#include "cache/invalidation.h"

#include <sstream>

namespace tether {

Result<CheckedInvalidation> check_invalidation(const cache::Invalidation& what) {
  using R = Result<CheckedInvalidation>;
  CheckedInvalidation out;
  if (what.regex.empty() && what.groups.empty()) return R::error("nothing to invalidate: give a regex or a group");
  if (!what.regex.empty()) {
    try {
      out.regex.emplace(what.regex, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return R::error("not a valid regular expression (" + std::string(e.what()) + "): " + what.regex);
    }
    out.regex_text = what.regex;
  }
  for (const auto& g : what.groups) {
    if (g.empty() || g.find(',') != std::string::npos) {
      return R::error("group names are non-empty and have no comma, got \"" + g + "\"");
    }
  }
  out.groups = what.groups;
  return out;
}

size_t apply_invalidation(ResponseCache& cache, const CheckedInvalidation& inv) {
  size_t n = 0;
  if (inv.regex) n += cache.invalidate_regex(*inv.regex);
  if (!inv.groups.empty()) n += cache.invalidate_groups(inv.groups);
  return n;
}

std::vector<std::string> invalidation_fields(const cache::Invalidation& what, const std::string& origin) {
  std::vector<std::string> f = {"type", "invalidate"};
  if (!what.regex.empty()) f.insert(f.end(), {"regex", what.regex});
  if (!what.groups.empty()) {
    std::string joined;
    for (const auto& g : what.groups) joined += (joined.empty() ? "" : ",") + g;
    f.insert(f.end(), {"groups", joined});
  }
  if (!origin.empty()) f.insert(f.end(), {"origin", origin});
  return f;
}

cache::Invalidation invalidation_from_fields(const std::map<std::string, std::string>& fields) {
  cache::Invalidation what;
  if (auto it = fields.find("regex"); it != fields.end()) what.regex = it->second;
  if (auto it = fields.find("groups"); it != fields.end()) {
    std::stringstream ss(it->second);
    for (std::string g; std::getline(ss, g, ',');) {
      if (!g.empty()) what.groups.push_back(g);
    }
  }
  return what;
}

std::vector<std::string> bus_log_xadd(const std::string& prefix, size_t maxlen, const std::vector<std::string>& fields) {
  std::vector<std::string> argv = {"XADD", prefix + "bus:log", "MAXLEN", "~", std::to_string(maxlen), "*"};
  argv.insert(argv.end(), fields.begin(), fields.end());
  return argv;
}

}  // namespace tether
