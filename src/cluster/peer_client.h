// PeerClient: the calling side of the peer channel (peer_crypto.h,
// peer_wire.h). Keeps idle connections per peer address and reuses them; a
// new connection starts with the handshake, sealed with the sealing key of
// the codec's key set at that moment. A kept connection whose key no longer
// seals (a rotation's step 2, after SIGHUP) is closed instead of reused, so
// that no connection under the old key is left when step 3 drops it.
//
// Timeouts: the connection, the handshake and the peer's first message
// (its ack that it took the request, or the reply) must come within
// quick_ms, or the call is NoAnswer; the whole reply within total_ms.
//
// Thread safety: call() from any thread at once; the pool is locked inside.
#pragma once
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster/call_result.h"
#include "cluster/peer_crypto.h"
#include "cluster/peer_wire.h"
#include "common/unique_fd.h"
#include "token/token.h"

namespace tether {

class PeerClient {
 public:
  // my_route: this worker's route, which every hello names as the caller.
  PeerClient(const TokenCodec& codec, std::string my_route, size_t max_idle_per_peer = 16)
      : codec_(codec), my_route_(std::move(my_route)), max_idle_(max_idle_per_peer) {}
  PeerClient(const PeerClient&) = delete;
  PeerClient& operator=(const PeerClient&) = delete;

  // addr: the peer's address ("unix:/path" or "IPv4:port"), which the hello
  // names as its destination.
  CallResult call(const std::string& addr, const peer::Params& params, std::string_view body, int quick_ms,
                        int total_ms);
  // Closes the idle connections to addr (the peer is gone).
  void forget(const std::string& addr);

 private:
  struct Conn {
    unique_fd fd;
    uint8_t kid = 0;
    peer::Cipher send;
    peer::Cipher recv;
  };
  std::optional<Conn> take(const std::string& addr, const KeySet& keys);
  void give_back(const std::string& addr, Conn conn);
  // Connects and shakes hands; error says why (*unreachable: the connect failed).
  Result<Conn> open(const std::string& addr, const KeySet& keys, net::Clock::time_point deadline, bool* unreachable);

  const TokenCodec& codec_;
  std::string my_route_;
  size_t max_idle_;
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<Conn>> idle_;
};

}  // namespace tether
