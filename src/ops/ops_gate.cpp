// OpsGate (see ops_gate.h).
#include "ops/ops_gate.h"

#include <cctype>

#include "common/firewall.h"
#include "common/json.h"

namespace tether {
namespace {

const char* const kLoopbackAddrs[] = {"127.0.0.1", "::1"};
const char* const kLoopbackNames[] = {"localhost", "127.0.0.1", "::1"};

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':';
}

bool valid_port(std::string_view p) {
  if (p.empty() || p.size() > 5) return false;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// "name:port" or "[v6]:port" (a bare IPv6 literal has two colons or more).
bool has_port(std::string_view h) {
  if (!h.empty() && h.front() == '[') return h.back() != ']';
  size_t colon = h.find(':');
  return colon != std::string_view::npos && colon == h.rfind(':');
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<std::set<std::string>> string_set(const nlohmann::json& spec, const char* key, const char* what) {
  using R = Result<std::set<std::string>>;
  std::set<std::string> out;
  if (!spec.contains(key)) return out;
  const auto& list = spec[key];
  if (!list.is_array()) return R::error(std::string(key) + ": expected an array of " + what);
  for (const auto& a : list) {
    if (!a.is_string()) return R::error(std::string(key) + ": expected " + what + ", got " + json_text(a));
    out.insert(a.get<std::string>());
  }
  return out;
}

}  // namespace

std::optional<HostAndPort> split_host(std::string_view host) {
  if (host.empty() || host.size() > 255) return std::nullopt;
  std::string_view name = host, port;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    name = host.substr(1, close - 1);
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !valid_port(rest.substr(1)))) return std::nullopt;
    if (!rest.empty()) port = rest.substr(1);
  } else if (has_port(host)) {
    size_t colon = host.find(':');
    if (colon == 0 || !valid_port(host.substr(colon + 1))) return std::nullopt;
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
  }
  for (char c : name) {
    if (!name_char(c)) return std::nullopt;
  }
  return HostAndPort{lower(name), std::string(port)};
}

std::optional<std::string> host_name(std::string_view host) {
  auto hp = split_host(host);
  if (!hp) return std::nullopt;
  return std::move(hp->name);
}

Result<OpsGate> OpsGate::parse(const nlohmann::json& spec) {
  using R = Result<OpsGate>;
  if (!spec.is_object()) {
    return R::error("expected an object, e.g. {} or {\"allow\": [\"10.0.0.5\"], \"hosts\": [\"ops.example.com\"]}");
  }
  for (const auto& [key, value] : spec.items()) {
    if (key != "allow" && key != "hosts") {
      return R::error("unknown field \"" + utf8_or_replaced(key) + "\" (expected allow, hosts)");
    }
  }
  OpsGate g;
  auto allow = string_set(spec, "allow", "client address strings");
  if (!allow) return allow.status();
  g.allow = std::move(allow.value());
  for (const char* a : kLoopbackAddrs) g.allow.insert(a);
  auto hosts = string_set(spec, "hosts", "host name strings");
  if (!hosts) return hosts.status();
  for (const auto& h : *hosts) {
    auto name = host_name(h);
    if (!name || has_port(h)) {
      return R::error("hosts: \"" + utf8_or_replaced(h) + "\" is not a host name without a port, e.g. ops.example.com");
    }
    g.hosts.insert(*name);
  }
  for (const char* n : kLoopbackNames) g.hosts.insert(n);
  return g;
}

bool OpsGate::host_allowed(std::string_view host_header) const {
  auto name = host_name(host_header);
  return name && hosts.count(*name) > 0;
}

Response ops_refused(const char* place, const char* kind, const std::string& reason) {
  firewall::refused(std::string(place) + "." + kind, reason);
  return Response::text("forbidden: " + reason + "\n", 403).header("Cache-Control", "no-store");
}

std::optional<Response> OpsGate::check(const char* place, const Request& req, const RouteMatch& match) const {
  if (match.forwarded != nullptr) {
    return ops_refused(place, "forwarded", std::string(place) + " is served to nginx's requests only, not to a peer's");
  }
  if (!allow.count(req.remote_addr)) return Response::text("forbidden\n", 403);
  std::string_view host = req.header("host");
  if (!host.empty() && !host_allowed(host)) {
    return ops_refused(place, "bad_host",
                       "Host \"" + utf8_or_replaced(std::string(host.substr(0, 100))) + "\" is not in this rule's "
                       "\"hosts\" (add the name the operators use to the rule: {\"hosts\": [\"ops.example.com\"]})");
  }
  return std::nullopt;
}

bool OpsGate::same_site_origin(std::string_view origin, std::string_view host) const {
  std::string_view rest = origin, default_port;
  for (auto [scheme, port] : {std::pair{"http://", "80"}, std::pair{"https://", "443"}}) {
    std::string_view s = scheme;
    if (rest.size() > s.size() && lower(rest.substr(0, s.size())) == s) {
      rest.remove_prefix(s.size());
      default_port = port;
      break;
    }
  }
  if (default_port.empty()) return false;  // "null", another scheme, garbage
  auto o = split_host(rest);
  auto h = split_host(host);
  if (!o || !h || o->name != h->name || !hosts.count(o->name)) return false;
  // nginx's $host (Debian's fastcgi_params) has no port; when the Host has one, it must match.
  return h->port.empty() || h->port == (o->port.empty() ? default_port : std::string_view(o->port));
}

std::optional<Response> OpsGate::same_origin(const char* place, const Request& req) const {
  auto it = req.headers.find("origin");
  if (it != req.headers.end()) {
    const std::string& origin = it->second;
    std::string_view host = req.header("host");
    if (!same_site_origin(origin, host)) {
      return ops_refused(place, "cross_site",
                         "Origin \"" + utf8_or_replaced(origin.substr(0, 100)) + "\" is not this site (Host \"" +
                             utf8_or_replaced(std::string(host.substr(0, 100))) + "\"): cross-site actions are refused");
    }
  }
  std::string_view site = req.header("sec-fetch-site");
  if (!site.empty() && site != "same-origin" && site != "none") {
    return ops_refused(place, "cross_site",
                       "Sec-Fetch-Site \"" + utf8_or_replaced(std::string(site.substr(0, 40))) +
                           "\": actions are taken from this site's own page only");
  }
  return std::nullopt;
}

}  // namespace tether
