// tether::Response: what a handler returns. A plain value; tether adds
// Set-Cookie for the session itself, so handlers never set tether_sid.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace tether {

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // in order
  std::string body;

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
