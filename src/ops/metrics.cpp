// Status figures as text lines and Prometheus exposition (see metrics.h).
#include "ops/metrics.h"

#include <cctype>
#include <map>
#include <set>

namespace tether::metrics {
namespace {

using nlohmann::json;

struct Known {
  const char* name;  // without the tether_ prefix
  const char* type;  // counter / gauge
  const char* help;
};

// The core figures, by their path in the status JSON.
const std::map<std::string, Known>& known() {
  static const std::map<std::string, Known> k = {
      {"started", {"start_time_seconds", "gauge", "Unix time the worker started"}},
      {"requests.accepted", {"requests_accepted_total", "counter", "Requests read from nginx or peers"}},
      {"requests.in_flight", {"requests_in_flight", "gauge", "Requests between accept and reply"}},
      {"requests.too_large", {"requests_too_large_total", "counter", "Requests refused with 413"}},
      {"requests.broken", {"requests_broken_total", "counter", "Request bodies cut short"}},
      {"requests.write_failed", {"requests_write_failed_total", "counter", "Replies the peer did not take"}},
      {"requests.abandoned", {"requests_abandoned_total", "counter", "Requests whose client went away"}},
      {"requests.slow", {"requests_slow_total", "counter", "Requests slower than slow_request_ms"}},
      {"acceptor_threads.running", {"acceptor_threads", "gauge", "Acceptor threads running"}},
      {"acceptor_threads.active", {"acceptor_threads_active", "gauge", "Acceptor threads serving a request"}},
      {"acceptor_threads.idle", {"acceptor_threads_idle", "gauge", "Acceptor threads waiting for a request"}},
      {"acceptor_threads.at_max", {"acceptor_threads_at_max_total", "counter", "Times the thread cap was hit"}},
      {"sessions.live", {"sessions_live", "gauge", "Sessions live on the worker"}},
      {"sessions.created", {"sessions_created_total", "counter", "Sessions created"}},
      {"sessions.requests", {"session_requests_total", "counter", "Requests run by session threads"}},
      {"sessions.handler_errors", {"session_handler_errors_total", "counter", "Session handlers that threw"}},
      {"sessions.moved_in", {"sessions_moved_in_total", "counter", "Sessions handed over to this worker"}},
      {"sessions.moved_out", {"sessions_moved_out_total", "counter", "Sessions handed over to another worker"}},
      {"sessions.recovered", {"sessions_recovered_total", "counter", "Sessions restored from a dead owner's checkpoint"}},
      {"sessions.restore_failed", {"sessions_restore_failed_total", "counter", "Checkpoints the app refused to restore"}},
      {"sessions.hibernated", {"sessions_hibernated", "gauge", "Sessions hibernated: written to Redis, not in memory"}},
      {"sessions.hibernations", {"sessions_hibernations_total", "counter", "Sessions hibernated under max_live_sessions"}},
      {"sessions.woken", {"sessions_woken_total", "counter", "Hibernated sessions restored into memory"}},
      {"sessions.wake_failed", {"sessions_wake_failed_total", "counter", "Hibernated sessions whose record could not be loaded or restored"}},
      {"sessions.hibernate_deferred", {"sessions_hibernate_deferred_total", "counter", "Hibernations put off: the checkpoint writer could not write"}},
      {"sessions.max_live", {"sessions_max_live", "gauge", "Sessions a worker keeps in memory before hibernating (0: no bound)"}},
      {"sessions.rotated", {"sessions_rotated_total", "counter", "Session ids the app rotated"}},
      {"sessions.dropped_stale",
       {"sessions_dropped_stale_total", "counter", "Stale copies dropped: a newer generation lives elsewhere"}},
      {"forward.out", {"forwarded_out_total", "counter", "Requests forwarded to a peer worker"}},
      {"forward.in", {"forwarded_in_total", "counter", "Requests a peer worker forwarded here"}},
      {"forward.lost", {"forward_lost_total", "counter", "Owners that did not answer in the quick timeout"}},
      {"forward.failed", {"forward_failed_total", "counter", "Forwarded replies that broke off"}},
      {"redis.up", {"redis_up", "gauge", "1 when the registry's Redis connection is up"}},
      {"redis.workers_known", {"redis_workers_known", "gauge", "Live workers in the directory"}},
      {"redis.commands", {"redis_commands_total", "counter", "Commands sent to Redis"}},
      {"redis.errors", {"redis_errors_total", "counter", "Redis errors"}},
      {"redis.outages", {"redis_outages_total", "counter", "Redis outages"}},
      {"redis.pending", {"redis_pending", "gauge", "Registry writes not yet made"}},
      {"redis.lost_ownership", {"redis_lost_ownership_total", "counter", "Sessions another owner had taken"}},
      {"redis.stalls", {"redis_stalls_total", "counter", "Registry rounds after a stall, when every session was checked"}},
  };
  return k;
}

// Figures of other sections whose last key names a level, not a count.
bool gauge_word(const std::string& key) {
  static const std::set<std::string> words = {
      "live",  "in_flight", "running", "idle",    "active",  "pending", "up",       "entries",
      "bytes", "max_bytes", "queued",  "depth",   "size",    "files",   "caught_up", "reads_allowed",
      "lag",   "lag_ms",    "backlog", "waiting", "workers", "open",    "connected", "accepting"};
  return words.count(key) != 0;
}

std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) out += (isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  return out;
}

std::string label_value(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(const json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  if (v.is_number_float()) return json(v.get<double>()).dump();
  return v.dump();
}

struct Family {
  std::string type, help;
  std::vector<std::string> samples;
};

class Exposition {
 public:
  void add(const std::string& name, const std::string& type, const std::string& help, const std::string& labels,
           const std::string& value) {
    auto [it, inserted] = index_.try_emplace(name, families_.size());
    if (inserted) families_.push_back({name, Family{type, help, {}}});
    families_[it->second].second.samples.push_back(name + "{" + labels + "} " + value);
  }
  std::string str() const {
    std::string out;
    for (const auto& [name, f] : families_) {
      out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
      for (const auto& s : f.samples) out += s + "\n";
    }
    return out;
  }

 private:
  std::map<std::string, size_t> index_;
  std::vector<std::pair<std::string, Family>> families_;
};

void walk(const json& j, const std::string& path, const std::string& labels, Exposition& out) {
  for (const auto& [key, v] : j.items()) {
    std::string p = path.empty() ? key : path + "." + key;
    if (v.is_object()) {
      if (p == "sessions.ended") {
        for (const auto& [reason, n] : v.items()) {
          if (!n.is_number()) continue;
          out.add("tether_sessions_ended_total", "counter", "Sessions ended, by reason",
                  labels + ",reason=\"" + label_value(reason) + "\"", number(n));
        }
        continue;
      }
      walk(v, p, labels, out);
      continue;
    }
    if (!v.is_number() && !v.is_boolean()) continue;  // names, addresses, states
    if (p == "worker" || p == "pid") continue;       // labels, not figures
    auto k = known().find(p);
    if (k != known().end()) {
      out.add(std::string("tether_") + k->second.name, k->second.type, k->second.help, labels, number(v));
      continue;
    }
    std::string name = "tether_" + sanitize(p);
    bool gauge = gauge_word(key);
    out.add(name, gauge ? "gauge" : "untyped", "Figure '" + p + "' of the status JSON", labels, number(v));
  }
}

void text_lines(const json& j, const std::string& path, std::string& out) {
  for (const auto& [key, v] : j.items()) {
    std::string name = path.empty() ? key : path + " " + key;
    for (char& c : name) c = c == '_' ? ' ' : c;
    if (v.is_object()) {
      text_lines(v, name, out);
    } else if (v.is_array()) {
      out += name + ": " + std::to_string(v.size()) + "\n";
    } else {
      out += name + ": " + (v.is_string() ? v.get<std::string>() : number(v)) + "\n";
    }
  }
}

void add_into(json& total, const json& v, const std::string& key) {
  if (!total.contains(key)) {
    if (v.is_object()) {
      total[key] = json::object();
      for (const auto& [k, x] : v.items()) add_into(total[key], x, k);
    } else {
      total[key] = v.is_boolean() ? json(v.get<bool>() ? 1 : 0) : v;
    }
    return;
  }
  json& t = total[key];
  if (v.is_object() && t.is_object()) {
    for (const auto& [k, x] : v.items()) add_into(t, x, k);
  } else if ((v.is_number() || v.is_boolean()) && t.is_number()) {
    double x = v.is_boolean() ? (v.get<bool>() ? 1 : 0) : v.get<double>();
    if (key == "started") {
      if (x < t.get<double>()) t = v;
    } else if (t.is_number_float() || v.is_number_float()) {
      t = t.get<double>() + x;
    } else {
      int64_t a = t.get<int64_t>(), b = v.is_boolean() ? (v.get<bool>() ? 1 : 0) : v.get<int64_t>(), c = 0;
      if (__builtin_add_overflow(a, b, &c)) {
        t = static_cast<double>(a) + static_cast<double>(b);
      } else {
        t = c;
      }
    }
  } else if (t != v) {
    total.erase(key);
  }
}

}  // namespace

Result<Format> parse_format(const std::string& name) {
  if (name.empty() || name == "json") return Format::Json;
  if (name == "text") return Format::Text;
  if (name == "prometheus") return Format::Prometheus;
  return Result<Format>::error("format: expected json, text or prometheus, got \"" + name + "\"");
}

const char* content_type(Format f) {
  switch (f) {
    case Format::Json: return "application/json";
    case Format::Text: return "text/plain; charset=utf-8";
    case Format::Prometheus: return "text/plain; version=0.0.4; charset=utf-8";
  }
  return "text/plain";
}

std::string to_text(const nlohmann::json& status) {
  std::string out;
  text_lines(status, "", out);
  return out;
}

std::string to_prometheus(const std::vector<registry::Figures>& workers) {
  Exposition out;
  for (const auto& w : workers) {
    std::string labels = "host=\"" + label_value(w.host()) + "\",worker=\"" + std::to_string(w.worker()) + "\"";
    walk(w.json(), "", labels, out);
  }
  return out.str();
}

nlohmann::json sum(std::span<const registry::Figures> workers) {
  json total = json::object();
  for (const auto& w : workers) {
    for (const auto& [k, v] : w.json().items()) {
      if (k == "worker" || k == "pid" || k == "addr" || k == "heartbeat") continue;
      add_into(total, v, k);
    }
  }
  total["workers"] = workers.size();
  return total;
}

nlohmann::json sum(const std::vector<nlohmann::json>& workers) {
  std::vector<registry::Figures> decoded;
  for (const auto& w : workers) {
    auto f = registry::Figures::own(w);
    if (f) decoded.push_back(std::move(f.value()));
  }
  return sum(std::span<const registry::Figures>(decoded));
}

}  // namespace tether::metrics
