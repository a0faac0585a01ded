// Reading a request from, and writing a response to, one libfcgi request.
// Called only by the acceptor thread that owns the FCGX_Request.
#pragma once
#include <fcgiapp.h>

#include <cstdint>

#include "tether/request.h"
#include "tether/response.h"

namespace tether::fcgi {

enum class BodyStatus { Ok, TooLarge, Broken };

// Fills method, path, query, headers, cookies, remote address and https
// from the FastCGI params; params named TETHER_* (added by a forwarding peer,
// never by nginx from client headers, which are HTTP_*) go to peer_params.
void read_params(FCGX_Request& fr, Request& req, std::map<std::string, std::string>* peer_params);
// Reads the body to its end. Beyond max_bytes the rest is read and dropped
// (up to a bound; past it the connection is closed after the response) and
// TooLarge is returned, so the connection stays usable for the next request.
BodyStatus read_body(FCGX_Request& fr, int64_t max_bytes, Request& req);
// Writes status line, headers (with Content-Length) and body (not for HEAD).
// False when the peer is gone.
bool write_response(FCGX_Request& fr, const Response& resp, bool head);

const char* status_text(int status);

}  // namespace tether::fcgi
