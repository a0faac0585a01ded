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

bool read_params(FCGX_Request& fr, Request& req, std::string_view side_prefix,
                 std::map<std::string, std::string>* side_params, int64_t max_bytes) {
  if (params_bytes(fr) > max_bytes) return false;
  std::string_view request_uri, document_uri;
  bool have_query = false;
  for (char** p = fr.envp; p != nullptr && *p != nullptr; ++p) {
    std::string_view kv(*p);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = kv.substr(0, eq), v = kv.substr(eq + 1);
    if (k.rfind("HTTP_", 0) == 0) {
      req.headers[http::header_name_from_param(k)] = std::string(v);
    } else if (k == "REQUEST_METHOD") {
      req.method = v;
    } else if (k == "REQUEST_URI") {
      request_uri = v;
    } else if (k == "DOCUMENT_URI") {
      document_uri = v;
    } else if (k == "QUERY_STRING") {
      req.query = v;
      have_query = true;
    } else if (k == "CONTENT_TYPE") {
      req.headers["content-type"] = std::string(v);
    } else if (k == "CONTENT_LENGTH") {
      req.headers["content-length"] = std::string(v);
    } else if (k == "REMOTE_ADDR") {
      req.remote_addr = v;
    } else if (k == "HTTPS") {
      req.https = !v.empty() && v != "off";
    } else if (!side_prefix.empty() && k.substr(0, side_prefix.size()) == side_prefix) {
      (*side_params)[std::string(k)] = std::string(v);
    }
  }
  std::string_view raw_path = request_uri.substr(0, request_uri.find('?'));
  // nginx's DOCUMENT_URI is decoded and normalised; fall back to REQUEST_URI.
  req.path = !document_uri.empty() ? std::string(document_uri) : http::percent_decode(raw_path, false);
  if (req.path.empty()) req.path = "/";
  if (!have_query) {
    size_t q = request_uri.find('?');
    if (q != std::string_view::npos) req.query = request_uri.substr(q + 1);
  }
  if (req.method.empty()) req.method = "GET";
  auto cookie = req.headers.find("cookie");
  if (cookie != req.headers.end()) req.cookies = http::parse_cookies(cookie->second);
  return true;
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
