// Decoded status figures (see figures.h).
#include "registry/figures.h"

#include <cmath>
#include <set>

#include "common/json.h"
#include "common/route.h"
#include "registry/decode.h"

namespace tether::registry {
namespace {

using nlohmann::json;

// Every key and string valid UTF-8, every number finite, depth bounded.
std::string check_values(const json& v, const std::string& path, int depth) {
  if (depth > kFiguresDepth) return path + ": nested deeper than " + std::to_string(kFiguresDepth);
  if (v.is_string()) {
    return valid_utf8(v.get_ref<const std::string&>()) ? "" : path + ": invalid UTF-8";
  }
  if (v.is_number_float()) return std::isfinite(v.get<double>()) ? "" : path + ": not a finite number";
  if (v.is_object()) {
    for (const auto& [k, x] : v.items()) {
      if (!valid_utf8(k)) return path + ": a key with invalid UTF-8";
      std::string e = check_values(x, path.empty() ? k : path + "." + k, depth + 1);
      if (!e.empty()) return e;
    }
  } else if (v.is_array()) {
    for (const auto& x : v) {
      std::string e = check_values(x, path + "[]", depth + 1);
      if (!e.empty()) return e;
    }
  }
  return "";
}

bool non_negative_integer(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX);
  return v.is_number_integer() && v.get<int64_t>() >= 0;
}

// The shape tether writes for the fields that tetherctl and the metrics read.
std::string check_shape(const json& j, const std::string& host, int worker) {
  if (!j.is_object()) return "expected an object, got " + std::string(j.type_name());
  auto h = string_field(j, "host");
  if (!h || *h != host) return "host: expected \"" + host + "\"";
  auto w = int_field(j, "worker");
  if (!w || *w != worker) return "worker: expected " + std::to_string(worker);
  for (const char* k : {"pid", "started", "heartbeat"}) {
    const json* v = field(j, k);
    if (v != nullptr && !non_negative_integer(*v)) return std::string(k) + ": expected a non-negative integer";
  }
  if (const json* v = field(j, "accepting"); v != nullptr && !v->is_boolean()) return "accepting: expected a boolean";
  if (const json* v = field(j, "addr"); v != nullptr && !v->is_string()) return "addr: expected a string";
  static const std::set<std::string> core = {"requests", "acceptor_threads", "sessions", "forward", "redis"};
  for (const auto& name : core) {
    const json* s = field(j, name.c_str());
    if (s == nullptr) continue;
    if (!s->is_object()) return name + ": expected an object of figures";
    for (const auto& [k, v] : s->items()) {
      std::string p = name + "." + k;
      if (p == "redis.up") {
        if (!v.is_boolean()) return p + ": expected a boolean";
      } else if (p == "sessions.ended" || p == "sessions.refused") {
        if (!v.is_object()) return p + ": expected an object of counts";
        for (const auto& [reason, n] : v.items()) {
          if (!n.is_number()) return p + "." + reason + ": expected a number";
        }
      } else if (!v.is_number()) {
        return p + ": expected a number";
      }
    }
  }
  return check_values(j, "", 0);
}

}  // namespace

Result<Figures> Figures::decode(std::string_view text, const std::string& host, int worker) {
  if (text.size() > kMaxFiguresBytes) {
    return Result<Figures>::error("larger than " + std::to_string(kMaxFiguresBytes) + " bytes");
  }
  auto j = parse_json(text, kFiguresDepth);
  if (!j) return j.status();
  std::string e = check_shape(*j, host, worker);
  if (!e.empty()) return Result<Figures>::error(e);
  Figures f;
  f.j_ = std::move(j.value());
  f.host_ = host;
  f.worker_ = worker;
  return f;
}

Result<Figures> Figures::own(const nlohmann::json& status) {
  auto host = string_field(status, "host");
  auto worker = int_field(status, "worker");
  if (!host || !worker || !valid_host_id(*host) || *worker < 0 || *worker > 65535) {
    return Result<Figures>::error("own status: no host and worker");
  }
  return decode(json_text(status), *host, static_cast<int>(*worker));  // json_text replaces invalid UTF-8
}

Figures Figures::from_directory(const WorkerInfo& w) {
  Figures f;
  f.j_ = {{"host", w.host}, {"worker", w.worker}, {"pid", w.pid}, {"sessions", {{"live", w.sessions}}}};
  f.host_ = w.host;
  f.worker_ = w.worker;
  return f;
}

void Figures::set_directory(const WorkerInfo& w) {
  j_["addr"] = w.addr;  // valid_addr: printable UTF-8
  j_["accepting"] = w.accepting;
  j_["heartbeat"] = w.heartbeat_ms;
}

void Figures::update_from(const Figures& current) {
  if (current.host_ != host_ || current.worker_ != worker_) return;
  for (const auto& [k, v] : current.j_.items()) j_[k] = v;
}

void to_json(nlohmann::json& j, const Figures& f) { j = f.json(); }

}  // namespace tether::registry
