// The "cache" section of tether.json (see settings.h).
#include "cache/settings.h"

#include <set>

namespace tether {

Result<CacheSettings> parse_cache_settings(const nlohmann::json& section, const std::string& base_dir) {
  using R = Result<CacheSettings>;
  CacheSettings s;
  if (section.is_null()) return s;
  static const std::set<std::string> known = {"max_bytes", "stale_after_ms", "stream_maxlen", "docroot", "max_variants"};
  for (auto& [k, v] : section.items()) {
    if (!known.count(k)) return R::error("field 'cache." + k + "': unknown (misspelt?)");
  }
  auto integer = [&](const char* name, int64_t lo, int64_t hi, auto* out) -> std::string {
    if (!section.contains(name)) return "";
    const auto& v = section[name];
    if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
      return std::string("field 'cache.") + name + "': expected an integer from " + std::to_string(lo) + " to " +
             std::to_string(hi) + ", got " + v.dump();
    }
    *out = static_cast<std::remove_pointer_t<decltype(out)>>(v.get<int64_t>());
    return "";
  };
  std::string e;
  if (!(e = integer("max_bytes", 0, int64_t(1) << 40, &s.max_bytes)).empty()) return R::error(e);
  if (!(e = integer("stale_after_ms", 1000, 3600 * 1000, &s.stale_after_ms)).empty()) return R::error(e);
  if (!(e = integer("stream_maxlen", 100, 100000000, &s.stream_maxlen)).empty()) return R::error(e);
  if (!(e = integer("max_variants", 1, 100000000, &s.max_variants)).empty()) return R::error(e);
  if (section.contains("docroot")) {
    if (!section["docroot"].is_string() || section["docroot"].get<std::string>().empty()) {
      return R::error("field 'cache.docroot': expected a directory path, got " + section["docroot"].dump());
    }
    s.docroot = section["docroot"].get<std::string>();
    if (s.docroot[0] != '/') s.docroot = base_dir + "/" + s.docroot;
  }
  return s;
}

}  // namespace tether
