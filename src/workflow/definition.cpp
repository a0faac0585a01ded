// Workflow definitions from tether.json (see definition.h).
#include "workflow/definition.h"

#include <cctype>

#include "common/json.h"
#include "config/section.h"

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

Result<Definition> parse_one(const std::string& name, const nlohmann::json& obj, const std::string& file) {
  config::Section w(obj, "workflows." + utf8_or_replaced(name), file);
  if (!valid_name(name)) {
    w.fail(nullptr, "a workflow name is 1-64 of [A-Za-z0-9_-]");
    return w.status();
  }
  if (!obj.is_object()) {
    w.fail(nullptr, "expected an object, got " + config::Section::shown(obj));
    return w.status();
  }
  w.known({"start_point_url", "step_timeout_ms", "retries", "backoff_ms", "backoff_max_ms", "max_depth", "max_steps",
           "concurrency", "lease_ms", "max_body_bytes", "max_incoming", "ticket_ttl_s",
           "min_replicas_ack", "replicas_ack_timeout_ms"});
  Definition d;
  d.name = name;
  if (const nlohmann::json* url = w.find("start_point_url"); url == nullptr || !url->is_string()) {
    w.fail("start_point_url", "expected an http:// or https:// URL string");
  } else {
    d.start_point_url = url->get<std::string>();
    if (d.start_point_url.rfind("http://", 0) != 0 && d.start_point_url.rfind("https://", 0) != 0) {
      w.fail("start_point_url", "expected an http:// or https:// URL, got " + config::Section::shown(*url));
    }
  }
  w.integer("step_timeout_ms", 1, 3600000, &d.step_timeout_ms);
  w.integer("retries", 0, 100, &d.retries);
  w.integer("backoff_ms", 0, 600000, &d.backoff_ms);
  w.integer("backoff_max_ms", 0, 3600000, &d.backoff_max_ms);
  w.integer("max_depth", 1, 10000, &d.max_depth);
  w.integer("max_steps", 1, 100000, &d.max_steps);
  w.integer("concurrency", 0, 1024, &d.concurrency);
  w.integer("lease_ms", 300, 3600000, &d.lease_ms);
  w.integer("max_body_bytes", 2, int64_t{1} << 30, &d.max_body_bytes);
  w.integer("max_incoming", 1, 1000000000, &d.max_incoming);
  w.integer("ticket_ttl_s", 0, kMaxTicketTtlS, &d.ticket_ttl_s);
  w.integer("min_replicas_ack", 0, 16, &d.min_replicas_ack);
  w.integer("replicas_ack_timeout_ms", 1, 60000, &d.replicas_ack_timeout_ms);
  if (!w.ok()) return w.status();
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
