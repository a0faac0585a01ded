// Listening sockets for FastCGI: "unix:/path.sock" or "IPv4:port".
// Called once at start on the main thread; the fd is then shared read-only.
#pragma once
#include <string>

#include "common/result.h"

namespace tether::fcgi {

// Binds and listens. A stale unix socket file (nobody listening) is
// replaced; a live one is an error. Unix sockets get mode 0660.
Result<int> open_listener(const std::string& address, int backlog = 1024);
// Removes the unix socket file of address, if it is one.
void remove_listener_file(const std::string& address);

}  // namespace tether::fcgi
