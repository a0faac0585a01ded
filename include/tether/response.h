// tether::Response: what a handler returns. A plain value; tether adds
// Set-Cookie for the session itself, so handlers never set tether_sid.
// Response::render() names a mustache template and a JSON context instead of
// a body; the worker renders it (HTML-escaped) before the response leaves.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace tether {

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // in order
  std::string body;
  std::string template_name;         // set by render(): rendered into body by the worker
  nlohmann::json template_context;   // ... with this context

  Response& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }

  static Response text(std::string body, int status = 200) {
    return make(status, "text/plain; charset=utf-8", std::move(body));
  }
  static Response html(std::string body, int status = 200) {
    return make(status, "text/html; charset=utf-8", std::move(body));
  }
  // body must already be JSON text (e.g. nlohmann::json::dump()).
  static Response json(std::string body, int status = 200) {
    return make(status, "application/json", std::move(body));
  }
  // An HTML page from the template `name` (a file under the "templates"
  // directory, e.g. "notes/page") and a JSON context. An unknown template
  // or a render error becomes a 500 with a log line.
  static Response render(std::string name, nlohmann::json context, int status = 200) {
    Response r = make(status, "text/html; charset=utf-8", "");
    r.template_name = std::move(name);
    r.template_context = std::move(context);
    return r;
  }
  static Response redirect(std::string location, int status = 303) {
    Response r;
    r.status = status;
    r.header("Location", std::move(location));
    return r;
  }

 private:
  static Response make(int status, const char* type, std::string body) {
    Response r;
    r.status = status;
    r.header("Content-Type", type);
    r.body = std::move(body);
    return r;
  }
};

}  // namespace tether
