// Workflow definitions from tether.json (see definition.h).
#include "workflow/definition.h"

#include <cctype>

#include "common/json.h"

namespace tether::workflow {
namespace {

constexpr int64_t kMaxTicketTtlS = int64_t{10} * 366 * 86400;  // ten years

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (unsigned char c : n) {
    if (!std::isalnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

// Reads an optional integer field into *out, checking lo <= v <= hi.
template <class T>
Status read_int(const nlohmann::json& obj, const char* field, T lo, T hi, T* out, const std::string& where) {
  if (!obj.contains(field)) return Status::ok();
  const auto& v = obj[field];
  if (!v.is_number_integer() || v.get<int64_t>() < static_cast<int64_t>(lo) ||
      v.get<int64_t>() > static_cast<int64_t>(hi)) {
    return Status::error(where + "." + field + "': expected an integer from " + std::to_string(lo) + " to " +
                         std::to_string(hi) + ", got " + json_text(v));
  }
  *out = static_cast<T>(v.get<int64_t>());
  return Status::ok();
}

Result<Definition> parse_one(const std::string& name, const nlohmann::json& obj, const std::string& file) {
  std::string where = file + ": field 'workflows." + name;
  if (!valid_name(name)) {
    return Result<Definition>::error(where + "': a workflow name is 1-64 of [A-Za-z0-9_-]");
  }
  if (!obj.is_object()) return Result<Definition>::error(where + "': expected an object, got " + json_text(obj));
  static const char* known[] = {"start_point_url", "step_timeout_ms", "retries",     "backoff_ms",
                                "backoff_max_ms",  "max_depth",       "max_steps",   "concurrency",
                                "lease_ms",        "max_body_bytes",  "max_incoming", "ticket_ttl_s"};
  for (auto& [k, v] : obj.items()) {
    bool ok = false;
    for (const char* f : known) ok = ok || k == f;
    if (!ok) return Result<Definition>::error(where + "." + k + "': unknown field");
  }
  Definition d;
  d.name = name;
  if (!obj.contains("start_point_url") || !obj["start_point_url"].is_string()) {
    return Result<Definition>::error(where + ".start_point_url': expected an http:// or https:// URL string");
  }
  d.start_point_url = obj["start_point_url"].get<std::string>();
  if (d.start_point_url.rfind("http://", 0) != 0 && d.start_point_url.rfind("https://", 0) != 0) {
    return Result<Definition>::error(where + ".start_point_url': expected an http:// or https:// URL, got \"" +
                                     d.start_point_url + "\"");
  }
  for (Status s : {read_int(obj, "step_timeout_ms", 1, 3600000, &d.step_timeout_ms, where),
                   read_int(obj, "retries", 0, 100, &d.retries, where),
                   read_int(obj, "backoff_ms", 0, 600000, &d.backoff_ms, where),
                   read_int(obj, "backoff_max_ms", 0, 3600000, &d.backoff_max_ms, where),
                   read_int(obj, "max_depth", 1, 10000, &d.max_depth, where),
                   read_int(obj, "max_steps", 1, 100000, &d.max_steps, where),
                   read_int(obj, "concurrency", 0, 1024, &d.concurrency, where),
                   read_int(obj, "lease_ms", 300, 3600000, &d.lease_ms, where),
                   read_int<int64_t>(obj, "max_body_bytes", 2, int64_t{1} << 30, &d.max_body_bytes, where),
                   read_int<int64_t>(obj, "max_incoming", 1, 1000000000, &d.max_incoming, where),
                   read_int<int64_t>(obj, "ticket_ttl_s", 0, kMaxTicketTtlS, &d.ticket_ttl_s, where)}) {
    if (!s) return s;
  }
  return d;
}

}  // namespace

Result<Definitions> parse_definitions(const nlohmann::json& section, const std::string& file) {
  Definitions out;
  if (section.is_null()) return out;
  if (!section.is_object()) {
    return Result<Definitions>::error(file + ": field 'workflows': expected an object keyed by workflow name");
  }
  for (auto& [name, obj] : section.items()) {
    auto d = parse_one(name, obj, file);
    if (!d) return d.status();
    out.emplace(name, std::move(d.value()));
  }
  return out;
}

std::string substitute_key(const std::string& url, const std::string& key) {
  static const char* hex = "0123456789ABCDEF";
  std::string esc;
  for (unsigned char c : key) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      esc += static_cast<char>(c);
    } else {
      esc += '%';
      esc += hex[c >> 4];
      esc += hex[c & 15];
    }
  }
  std::string out;
  size_t pos = 0;
  for (size_t at; (at = url.find("{key}", pos)) != std::string::npos; pos = at + 5) {
    out.append(url, pos, at - pos);
    out += esc;
  }
  out.append(url, pos);
  return out;
}

}  // namespace tether::workflow
