// Reading a request from, and writing a response to, one libfcgi request.
// Called only by the acceptor thread that owns the FCGX_Request.
#pragma once
#include <fcgiapp.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tether/request.h"
#include "tether/response.h"

namespace tether::fcgi {

enum class BodyStatus { Ok, TooLarge, Broken };

// The size of a request's FastCGI params: every name and value, plus one
// byte per pair (libfcgi keeps each as "name=value").
int64_t params_bytes(const FCGX_Request& fr);
// Fills method, path, query, headers, cookies, remote address and https
// from the FastCGI params nginx sent; any other param is ignored (what a
// peer says comes only over the peer channel: read_param_pairs). False, and
// req left as it was, when params_bytes(fr) passes max_bytes: answer 431
// and close the connection.
// libfcgi has read the whole params stream into memory before this runs
// (FCGX_Accept_r); the bound keeps what tether copies and parses small.
bool read_params(FCGX_Request& fr, Request& req, int64_t max_bytes = INT64_MAX);
// The same, from params given as pairs (the peer channel's requests, whose
// sender is authenticated; their size is bounded by the caller); params
// whose name starts with side_prefix (not empty; never HTTP_*, which nginx
// makes from client headers) go to side_params.
void read_param_pairs(const std::vector<std::pair<std::string, std::string>>& params, Request& req,
                      std::string_view side_prefix, std::map<std::string, std::string>* side_params);
// Reads the body to its end. Beyond max_bytes the rest is read and dropped
// (up to a bound; past it the connection is closed after the response) and
// TooLarge is returned, so the connection stays usable for the next request.
BodyStatus read_body(FCGX_Request& fr, int64_t max_bytes, Request& req);
// Writes status line, headers (with Content-Length) and body (not for HEAD).
// False when the peer is gone.
bool write_response(FCGX_Request& fr, const Response& resp, bool head);

const char* status_text(int status);

}  // namespace tether::fcgi
