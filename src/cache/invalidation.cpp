// Invalidation messages: checking, applying, stream encoding (see invalidation.h).
#include "cache/invalidation.h"

#include <re2/re2.h>

#include <sstream>

#include "common/json.h"

namespace tether {

std::string quoted_start(const std::string& s) {
  constexpr size_t kShown = 80;
  std::string shown = utf8_or_replaced(std::string_view(s).substr(0, kShown));
  return "\"" + shown + (s.size() > kShown ? "...\" (" + std::to_string(s.size()) + " bytes)" : "\"");
}

Result<CheckedInvalidation> check_invalidation(const cache::Invalidation& what) {
  using R = Result<CheckedInvalidation>;
  CheckedInvalidation out;
  if (what.regex.empty() && what.groups.empty()) return R::error("nothing to invalidate: give a regex or a group");
  if (!what.regex.empty()) {
    if (what.regex.size() > kMaxRegexBytes) {
      return R::error("regex too long: " + std::to_string(what.regex.size()) + " bytes, at most " +
                      std::to_string(kMaxRegexBytes) + " are accepted");
    }
    RE2::Options opts;
    opts.set_encoding(RE2::Options::EncodingLatin1);  // bytes, as keys are
    opts.set_log_errors(false);
    opts.set_max_mem(kRegexMaxMem);
    opts.set_never_capture(true);
    auto re = std::make_shared<const RE2>(what.regex, opts);
    if (!re->ok()) {
      return R::error("not a valid regular expression (" + re->error().substr(0, 200) + "): " +
                      quoted_start(what.regex));
    }
    out.regex = std::move(re);
    out.regex_text = what.regex;
  }
  if (what.groups.size() > kMaxGroupsPerInvalidation) {
    return R::error("too many groups: at most " + std::to_string(kMaxGroupsPerInvalidation));
  }
  for (const auto& g : what.groups) {
    if (g.empty() || g.find(',') != std::string::npos || g.size() > kMaxGroupBytes || !valid_utf8(g)) {
      return R::error("group names are non-empty UTF-8 of at most " + std::to_string(kMaxGroupBytes) +
                      " bytes without a comma, got " + quoted_start(g));
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
