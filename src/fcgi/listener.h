// Listening sockets for FastCGI: "unix:/path.sock" or "IPv4:port".
// Called once at start on the main thread; the fd is then shared read-only.
#pragma once
#include <string>

#include "common/result.h"

namespace tether::fcgi {

// Who may connect to a unix socket: tether.json's listen_owner,
// listen_group, listen_mode (php-fpm's listen.owner/.group/.mode). Empty
// owner/group: left as created (the worker's user; its group, or the
// directory's group when the directory is setgid). A user or group is a
// name or a number.
struct ListenOptions {
  std::string owner;
  std::string group;
  unsigned mode = 0660;
  int backlog = 1024;
};

// Binds and listens. A stale unix socket file (nobody listening) is
// replaced; a live one is an error. A missing socket directory is created
// (mode 0755, with its parents) when the process may. The socket then gets
// options' owner, group and mode.
Result<int> open_listener(const std::string& address, const ListenOptions& options);
Result<int> open_listener(const std::string& address, int backlog = 1024);
// Removes the unix socket file of address, if it is one.
void remove_listener_file(const std::string& address);

// What --check-config asks before a worker binds: for a unix socket, that
// listen_owner and listen_group exist, and that this process may create the
// socket (its directory is writable, or missing under a writable parent).
// The error names the user checked as ("as user tether (uid 998)").
Status check_listener(const std::string& address, const ListenOptions& options);
// "user NAME (uid N)": the user this process runs as, for messages.
std::string running_as();

// The uid (gid) a user (group) name or number stands for; an error names it.
Result<long> lookup_user(const std::string& name);
Result<long> lookup_group(const std::string& name);

}  // namespace tether::fcgi
