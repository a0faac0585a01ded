// make_route / parse_route: a worker's name across the cluster,
// "{host}-{worker}" (h1-0): the token's route, nginx's sticky key, log and
// tetherctl output, the registry's error messages, a peer's signed sender.
// Stateless; safe from any thread.
#pragma once
#include <charconv>
#include <string>
#include <string_view>

namespace tether {

// A host id as config's field 'host' accepts it: 1 to 32 letters, digits
// or '_' (the registry's decoders and the bus refuse anything else).
inline bool valid_host_id(std::string_view host) {
  if (host.empty() || host.size() > 32) return false;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

inline std::string make_route(const std::string& host, int worker) { return host + "-" + std::to_string(worker); }

// route == make_route(host, worker), without building the string (per request).
inline bool route_is(std::string_view route, std::string_view host, int worker) {
  if (route.size() <= host.size() + 1 || route.substr(0, host.size()) != host || route[host.size()] != '-') {
    return false;
  }
  char digits[16];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, worker);
  return ec == std::errc() && route.substr(host.size() + 1) == std::string_view(digits, end - digits);
}

// The inverse of make_route: false unless route is a non-empty host, '-',
// and a worker number of decimal digits only that fits an int.
inline bool parse_route(const std::string& route, std::string* host, int* worker) {
  size_t dash = route.rfind('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == route.size()) return false;
  const char* first = route.data() + dash + 1;
  const char* last = route.data() + route.size();
  if (*first < '0' || *first > '9') return false;  // from_chars would take a sign
  int n = 0;
  auto [end, ec] = std::from_chars(first, last, n);
  if (ec != std::errc() || end != last) return false;
  *host = route.substr(0, dash);
  *worker = n;
  return true;
}

}  // namespace tether
