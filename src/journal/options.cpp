// The "journal" section of tether.json (see options.h).
#include "journal/options.h"

#include <chrono>

#include "config/section.h"

namespace tether::journal {

const char* to_string(Fsync f) {
  switch (f) {
    case Fsync::Always: return "always";
    case Fsync::Batch: return "batch";
    case Fsync::None: return "none";
  }
  return "?";
}

int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<JournalOptions> parse_options(const nlohmann::json& s, const std::string& file, const std::string& base_dir,
                                     const std::string& route) {
  config::Section j(s, "journal", file);
  if (!s.is_object()) {
    j.fail(nullptr, "expected an object, e.g. {\"dir\": \"journal\"}");
    return j.status();
  }
  JournalOptions o;
  j.known({"dir", "fsync", "fsync_interval_ms", "rollover_s", "batch_max", "backoff_max_ms", "require_durable_redis",
           "min_replicas_ack", "replicas_ack_timeout_ms"});
  j.boolean("require_durable_redis", &o.require_durable_redis);
  std::string dir = "journal";
  j.non_empty("dir", "a directory path", &dir);
  if (dir[0] != '/') dir = base_dir + "/" + dir;
  o.dir = dir + "/" + route;
  std::string fsync = to_string(o.fsync);
  j.one_of("fsync", {"always", "batch", "none"}, &fsync);
  o.fsync = fsync == "always" ? Fsync::Always : fsync == "none" ? Fsync::None : Fsync::Batch;
  j.integer("fsync_interval_ms", 1, 10000, &o.fsync_interval_ms);
  j.integer("rollover_s", 1, 86400, &o.rollover_s);
  j.integer("batch_max", 1, 10000, &o.batch_max);
  j.integer("backoff_max_ms", 10, 60000, &o.backoff_max_ms);
  j.integer("min_replicas_ack", 0, 16, &o.min_replicas_ack);
  j.integer("replicas_ack_timeout_ms", 1, 60000, &o.replicas_ack_timeout_ms);
  if (!j.ok()) return j.status();
  o.now_us = wall_us;
  return o;
}

}  // namespace tether::journal
