// tether::Request: one HTTP request as the application sees it.
// Owned by the request: built by an acceptor thread, then read (never
// changed) by the session thread that runs the handler. Not shared after that.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace tether {

struct Request {
  std::string method;       // "GET", "POST", ...
  std::string path;         // decoded path without the query, e.g. "/notes/3"
  std::string query;        // raw query string without '?', e.g. "a=1&b=2"
  std::string body;         // the whole body, at most max_body_bytes
  std::string remote_addr;  // client address as nginx saw it
  bool https = false;       // true when nginx says the client used HTTPS
  // Header names are lower case with '-' ("content-type", "x-forwarded-for").
  std::map<std::string, std::string> headers;
  std::map<std::string, std::string> cookies;

  // The header's value, or "" when absent. name is lower case.
  std::string_view header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string_view() : std::string_view(it->second);
  }
  // The cookie's value, or "" when absent.
  std::string_view cookie(const std::string& name) const {
    auto it = cookies.find(name);
    return it == cookies.end() ? std::string_view() : std::string_view(it->second);
  }
  // The first value of a query parameter, percent-decoded; "" when absent.
  std::string query_param(std::string_view name) const;
  // The first value of an application/x-www-form-urlencoded body field.
  std::string form_param(std::string_view name) const;
  // The body as JSON, or nullopt when it is not valid JSON or nests deeper
  // than 64 levels (a deeper value would make copying or dumping it recurse
  // that deep). Never throws. Dump what you send back with
  // error_handler_t::replace: a client's strings need not be valid UTF-8.
  std::optional<nlohmann::json> json_body() const;
};

}  // namespace tether
