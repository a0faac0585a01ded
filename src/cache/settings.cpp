// The "cache" section of tether.json (see settings.h).
#include "cache/settings.h"

#include "config/section.h"

namespace tether {

Result<CacheSettings> parse_cache_settings(const nlohmann::json& section, const std::string& base_dir) {
  CacheSettings s;
  if (section.is_null()) return s;
  config::Section c(section, "cache");
  if (!section.is_object()) c.fail(nullptr, "expected an object, got " + config::Section::shown(section));
  c.known({"max_bytes", "stale_after_ms", "stream_maxlen", "docroot", "max_variants"});
  c.integer("max_bytes", 0, int64_t(1) << 40, &s.max_bytes);
  c.integer("stale_after_ms", 1000, 3600 * 1000, &s.stale_after_ms);
  c.integer("stream_maxlen", 100, 100000000, &s.stream_maxlen);
  c.integer("max_variants", 1, 100000000, &s.max_variants);
  c.non_empty("docroot", "a directory path", &s.docroot);
  if (!c.ok()) return c.status();
  if (!s.docroot.empty() && s.docroot[0] != '/') s.docroot = base_dir + "/" + s.docroot;
  return s;
}

}  // namespace tether
