// RedisOptions: where and how to reach Redis (the "redis" section of
// tether.json, read by src/config), without any hiredis header, so that
// what only reads the configuration does not depend on the client.
// Thread safety: plain values and a pure function.
#pragma once
#include <string>
#include <vector>

#include "common/result.h"

namespace tether {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  // Sentinel: when non-empty, host/port are ignored and the master named
  // `master` is found through these sentinels ("host:port" each).
  std::vector<std::string> sentinels;
  std::string master;
  std::string sentinel_username, sentinel_password;  // AUTH to the sentinels
  std::string username;  // ACL user ("": the default user)
  std::string password;
  int db = 0;
  int connect_timeout_ms = 500;
  int io_timeout_ms = 1000;
  std::string prefix = "tether:";  // every key tether writes starts with this
};

struct HostPort {
  std::string host;
  int port = 0;
};

// "host:port" (a sentinel in tether.json) -> its parts; error says what was expected.
Result<HostPort> parse_host_port(const std::string& text);

}  // namespace tether
