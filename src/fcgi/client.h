// Client: the FastCGI client side (tests drive workers with it; the cluster
// talks to peers with cluster/peer_client.h). Keeps idle kept-alive
// connections per server address and reuses them.
//
// Timeouts: the server must accept and send its first record (any record:
// a server may send an early STDERR line to say it took the request) within
// quick_ms, or the call is NoAnswer; then the whole reply must arrive within
// total_ms.
//
// Thread safety: call() from any thread at once; the pool is locked inside.
#pragma once
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "tether/response.h"

namespace tether::fcgi {

struct ClientResult {
  enum class Kind {
    Ok,           // response holds the server's reply
    Unreachable,  // could not connect
    NoAnswer,     // connected, but nothing came back within the quick timeout (or it closed)
    Failed,       // the reply broke off, was malformed, or took longer than total_ms
  };
  Kind kind = Kind::Failed;
  Response response;
  std::string error;
};

using Params = std::vector<std::pair<std::string, std::string>>;

class Client {
 public:
  explicit Client(size_t max_idle_per_server = 16) : max_idle_(max_idle_per_server) {}
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // addr: "unix:/path.sock" or "IPv4:port".
  ClientResult call(const std::string& addr, const Params& params, std::string_view body, int quick_ms, int total_ms);
  // Closes the idle connections to addr (the server is gone).
  void forget(const std::string& addr);

 private:
  unique_fd take(const std::string& addr);  // an idle connection, or none
  void give_back(const std::string& addr, unique_fd fd);

  size_t max_idle_;
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<unique_fd>> idle_;
};

}  // namespace tether::fcgi
