// FastCGI params/body in, response out (see exchange.h).
#include "fcgi/exchange.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "http/parse.h"

namespace tether::fcgi {
namespace {

constexpr int kChunk = 64 * 1024;
// Past this many bytes of a too-large body, stop reading and close instead.
constexpr int64_t kDiscardLimit = 64LL << 20;

}  // namespace

int64_t params_bytes(const FCGX_Request& fr) {
  int64_t total = 0;
  for (char** p = fr.envp; p != nullptr && *p != nullptr; ++p) total += static_cast<int64_t>(strlen(*p));
  return total;
}

namespace {

// Fills req from params handed over one at a time (add), then finish().
// side_prefix "" (the FastCGI socket's requests): no param is set apart.
class ParamReader {
 public:
  ParamReader(Request& req, std::string_view side_prefix, std::map<std::string, std::string>* side)
      : req_(req), side_prefix_(side_prefix), side_(side) {}
  void add(std::string_view k, std::string_view v) {
    if (k.rfind("HTTP_", 0) == 0) {
      req_.headers[http::header_name_from_param(k)] = std::string(v);
    } else if (k == "REQUEST_METHOD") {
      req_.method = v;
    } else if (k == "REQUEST_URI") {
      request_uri_ = v;
    } else if (k == "DOCUMENT_URI") {
      document_uri_ = v;
    } else if (k == "QUERY_STRING") {
      req_.query = v;
      have_query_ = true;
    } else if (k == "CONTENT_TYPE") {
      req_.headers["content-type"] = std::string(v);
    } else if (k == "CONTENT_LENGTH") {
      req_.headers["content-length"] = std::string(v);
    } else if (k == "REMOTE_ADDR") {
      req_.remote_addr = v;
    } else if (k == "HTTPS") {
      req_.https = !v.empty() && v != "off";
    } else if (!side_prefix_.empty() && k.substr(0, side_prefix_.size()) == side_prefix_) {
      (*side_)[std::string(k)] = std::string(v);
    }
  }
  void finish() {
    std::string_view raw_path = request_uri_.substr(0, request_uri_.find('?'));
    // nginx's DOCUMENT_URI is decoded and normalised; fall back to REQUEST_URI.
    req_.path = !document_uri_.empty() ? std::string(document_uri_) : http::percent_decode(raw_path, false);
    if (req_.path.empty()) req_.path = "/";
    if (!have_query_) {
      size_t q = request_uri_.find('?');
      if (q != std::string_view::npos) req_.query = request_uri_.substr(q + 1);
    }
    if (req_.method.empty()) req_.method = "GET";
    auto cookie = req_.headers.find("cookie");
    if (cookie != req_.headers.end()) req_.cookies = http::parse_cookies(cookie->second);
  }

 private:
  Request& req_;
  std::string_view side_prefix_;
  std::map<std::string, std::string>* side_;
  std::string_view request_uri_, document_uri_;  // views into the caller's params
  bool have_query_ = false;
};

}  // namespace

bool read_params(FCGX_Request& fr, Request& req, int64_t max_bytes) {
  if (params_bytes(fr) > max_bytes) return false;
  ParamReader reader(req, std::string_view(), nullptr);
  for (char** p = fr.envp; p != nullptr && *p != nullptr; ++p) {
    std::string_view kv(*p);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos) reader.add(kv.substr(0, eq), kv.substr(eq + 1));
  }
  reader.finish();
  return true;
}

void read_param_pairs(const std::vector<std::pair<std::string, std::string>>& params, Request& req,
                      std::string_view side_prefix, std::map<std::string, std::string>* side_params) {
  ParamReader reader(req, side_prefix, side_params);
  for (const auto& [k, v] : params) reader.add(k, v);
  reader.finish();
}

BodyStatus read_body(FCGX_Request& fr, int64_t max_bytes, Request& req) {
  int64_t declared = -1;
  auto cl = req.headers.find("content-length");
  if (cl != req.headers.end() && !cl->second.empty()) {
    char* end = nullptr;
    long long v = strtoll(cl->second.c_str(), &end, 10);
    declared = (end && *end == '\0' && v >= 0) ? v : -1;
  }
  bool too_large = declared > max_bytes;
  if (!too_large && declared > 0) req.body.reserve(static_cast<size_t>(declared));
  char buf[kChunk];
  int64_t total = 0;
  for (;;) {
    int n = FCGX_GetStr(buf, kChunk, fr.in);
    if (n > 0) {
      total += n;
      if (!too_large && total > max_bytes) {
        too_large = true;
        req.body.clear();
        req.body.shrink_to_fit();
      }
      if (!too_large) req.body.append(buf, static_cast<size_t>(n));
      if (too_large && total > kDiscardLimit) {
        fr.keepConnection = 0;  // not worth reading further: close after replying
        return BodyStatus::TooLarge;
      }
    }
    if (n < kChunk) break;  // end of stream (or an error, checked below)
  }
  if (FCGX_GetError(fr.in) != 0) return BodyStatus::Broken;
  return too_large ? BodyStatus::TooLarge : BodyStatus::Ok;
}

const char* status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

bool write_response(FCGX_Request& fr, const Response& resp, bool head) {
  std::string h;
  h.reserve(128 + resp.headers.size() * 48);
  // A status nginx would refuse (an app's bug) is answered as a 500.
  int status = resp.status >= 100 && resp.status <= 599 ? resp.status : 500;
  h += "Status: ";
  h += std::to_string(status);
  h += ' ';
  h += status_text(status);
  h += "\r\n";
  for (const auto& [k, v] : resp.headers) {
    // A CR or LF in a header would let a handler split the response.
    if (k.find_first_of("\r\n:") != std::string::npos || v.find_first_of("\r\n") != std::string::npos) continue;
    h += k;
    h += ": ";
    h += v;
    h += "\r\n";
  }
  h += "Content-Length: ";
  h += std::to_string(resp.body.size());
  h += "\r\n\r\n";
  bool inline_body = !head && resp.body.size() <= 16 * 1024;
  if (inline_body) h += resp.body;  // one buffer, one write for small replies
  if (FCGX_PutStr(h.data(), static_cast<int>(h.size()), fr.out) != static_cast<int>(h.size())) return false;
  if (head || inline_body) return true;
  return FCGX_PutStr(resp.body.data(), static_cast<int>(resp.body.size()), fr.out) ==
         static_cast<int>(resp.body.size());
}

}  // namespace tether::fcgi
