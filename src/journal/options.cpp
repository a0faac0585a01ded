// The "journal" section of tether.json (see options.h).
#include "journal/options.h"

#include <chrono>
#include <set>

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
  using R = Result<JournalOptions>;
  auto err = [&](const std::string& field, const std::string& what) {
    return R::error(file + ": field 'journal." + field + "': " + what);
  };
  if (!s.is_object()) return R::error(file + ": field 'journal': expected an object, e.g. {\"dir\": \"journal\"}");
  JournalOptions o;
  static const std::set<std::string> known = {"dir",       "fsync",          "fsync_interval_ms",    "rollover_s",
                                              "batch_max", "backoff_max_ms", "require_durable_redis",
                                              "min_replicas_ack", "replicas_ack_timeout_ms"};
  for (auto& [k, v] : s.items()) {
    if (!known.count(k)) {
      return err(k, "unknown field (expected dir, fsync, fsync_interval_ms, rollover_s, batch_max, backoff_max_ms, "
                    "require_durable_redis, min_replicas_ack, replicas_ack_timeout_ms)");
    }
  }
  if (s.contains("require_durable_redis")) {
    if (!s["require_durable_redis"].is_boolean()) {
      return err("require_durable_redis", "expected true or false, got " + s["require_durable_redis"].dump());
    }
    o.require_durable_redis = s["require_durable_redis"].get<bool>();
  }
  std::string dir = "journal";
  if (s.contains("dir")) {
    if (!s["dir"].is_string() || s["dir"].get<std::string>().empty()) return err("dir", "expected a directory path");
    dir = s["dir"].get<std::string>();
  }
  if (dir[0] != '/') dir = base_dir + "/" + dir;
  o.dir = dir + "/" + route;
  if (s.contains("fsync")) {
    std::string f = s["fsync"].is_string() ? s["fsync"].get<std::string>() : s["fsync"].dump();
    if (f == "always") o.fsync = Fsync::Always;
    else if (f == "batch") o.fsync = Fsync::Batch;
    else if (f == "none") o.fsync = Fsync::None;
    else return err("fsync", "expected \"always\", \"batch\" or \"none\", got " + s["fsync"].dump());
  }
  auto integer = [&](const char* k, int64_t lo, int64_t hi, int64_t& out) -> Status {
    if (!s.contains(k)) return Status::ok();
    if (!s[k].is_number_integer() || s[k].get<int64_t>() < lo || s[k].get<int64_t>() > hi) {
      return Status::error(file + ": field 'journal." + k + "': expected an integer from " + std::to_string(lo) +
                           " to " + std::to_string(hi) + ", got " + s[k].dump());
    }
    out = s[k].get<int64_t>();
    return Status::ok();
  };
  int64_t interval = o.fsync_interval_ms, batch = o.batch_max, backoff = o.backoff_max_ms;
  if (Status st = integer("fsync_interval_ms", 1, 10000, interval); !st) return st;
  if (Status st = integer("rollover_s", 1, 86400, o.rollover_s); !st) return st;
  if (Status st = integer("batch_max", 1, 10000, batch); !st) return st;
  if (Status st = integer("backoff_max_ms", 10, 60000, backoff); !st) return st;
  int64_t replicas = o.min_replicas_ack, ack_timeout = o.replicas_ack_timeout_ms;
  if (Status st = integer("min_replicas_ack", 0, 16, replicas); !st) return st;
  if (Status st = integer("replicas_ack_timeout_ms", 1, 60000, ack_timeout); !st) return st;
  o.min_replicas_ack = static_cast<int>(replicas);
  o.replicas_ack_timeout_ms = static_cast<int>(ack_timeout);
  o.fsync_interval_ms = static_cast<int>(interval);
  o.batch_max = static_cast<int>(batch);
  o.backoff_max_ms = static_cast<int>(backoff);
  o.now_us = wall_us;
  return o;
}

}  // namespace tether::journal
