// OpsGate: who may reach the status and admin rules. Four checks, each a
// 403 with a plain-text reason, counted as firewall::refused("<place>.<kind>"):
//  - the request came from nginx, not from a peer worker (RouteMatch's
//    forwarded is null): "<place>.forwarded";
//  - the client address (REMOTE_ADDR) is in "allow" (loopback always; not
//    counted: an ordinary denial, as before);
//  - the Host header names a host in "hosts" (the loopback names localhost,
//    127.0.0.1 and ::1 always; the port is ignored): "<place>.bad_host".
//    This stops DNS rebinding: a page of attacker.example whose name now
//    resolves to this server is same-origin with it, but its requests say
//    Host: attacker.example. A request without a Host header passes (every
//    browser sends one; non-browser callers such as a FastCGI probe may not);
//  - for actions (POST), same_origin(): an Origin header, when present, is
//    http(s)://<the request's Host name>[:port] with an allowed name (the
//    port is compared when the Host has one: Debian's fastcgi_params pass
//    nginx's $host, which has none), and a
//    Sec-Fetch-Site header, when present, is same-origin or none (a browser
//    sends one of them or both on every cross-site POST): "<place>.cross_site".
// Spec: {} or {"allow": ["10.0.0.5"], "hosts": ["ops.example.com"]}; other
// fields are refused (a misspelt "hosts" would otherwise lock the operator
// out without a word).
// Thread safety: immutable after parse(); checks from any thread.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/result.h"
#include "http/router.h"
#include "tether/request.h"
#include "tether/response.h"

namespace tether {

// The host name of a Host header value (or of the host part of an Origin):
// lower case, without the port and without the brackets of an IPv6 literal
// ("[::1]:8080" -> "::1", "Ops.Example.COM" -> "ops.example.com").
// nullopt when it is not one: empty, over 255 bytes, a character outside
// [A-Za-z0-9.-_:], a port that is not 1 to 5 digits, unbalanced brackets.
std::optional<std::string> host_name(std::string_view host);

// As host_name, with the port ("" when none).
struct HostAndPort {
  std::string name;
  std::string port;
};
std::optional<HostAndPort> split_host(std::string_view host);

struct OpsGate {
  std::set<std::string> allow;  // client addresses
  std::set<std::string> hosts;  // host names as host_name() writes them

  // Parses the spec of a status or admin rule (see above).
  static Result<OpsGate> parse(const nlohmann::json& spec);

  // The checks of every request (forwarded, address, Host): nullopt when it
  // passes, else the 403 to answer. place: "status" or "admin".
  std::optional<Response> check(const char* place, const Request& req, const RouteMatch& match) const;
  // The checks of an action (Origin, Sec-Fetch-Site), after check().
  std::optional<Response> same_origin(const char* place, const Request& req) const;

  bool host_allowed(std::string_view host_header) const;
  // origin is http(s)://<allowed name>[:port], of the same name as host
  // and, when host has a port, of that port (80 or 443 when origin has none).
  bool same_site_origin(std::string_view origin, std::string_view host) const;
};

// Counts firewall::refused("<place>.<kind>", reason) and answers 403 with
// "forbidden: <reason>".
Response ops_refused(const char* place, const char* kind, const std::string& reason);

}  // namespace tether
