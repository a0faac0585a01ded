// Forwarder: finds where a worker lives and forwards a request to it.
//
// Where a worker lives (its peer listener): this worker's own address;
// else the directory of live workers the registry reads every heartbeat;
// else, for a worker of this host while the directory is unknown (no Redis,
// or none read yet), the peer_listen pattern of tether.json with {worker}
// replaced. A worker that is not in a known directory is gone.
//
// Calls go over the peer channel (peer_client.h).
//
// Never to itself: a call or forward to this worker's own address
// (peer_listen, advertise or listen) is refused at once (Unreachable,
// counted as refused "forward.to_self"), whatever entry named it.
//
// Thread safety: any thread (the peer client and registry are thread-safe).
#pragma once
#include <atomic>
#include <string>

#include "config/config.h"
#include "cluster/peer_client.h"
#include "cluster/route_parts.h"
#include "registry/registry.h"

namespace tether {

struct ForwardStats {
  std::atomic<uint64_t> out{0};           // requests forwarded to a peer
  std::atomic<uint64_t> in{0};            // requests a peer forwarded here
  std::atomic<uint64_t> lost{0};          // owners that did not answer in the quick timeout
  std::atomic<uint64_t> failed{0};        // replies that broke off after the owner answered
};

class Forwarder final : public PeerLink {
 public:
  Forwarder(const Config& config, const TokenCodec& codec, Registry* registry)
      : config_(config), registry_(registry), client_(codec, config.route()) {}

  // "" when the worker is not known to be alive.
  std::string address_of(const std::string& host, int worker) const override;
  // Forwards req over the peer channel, with the reason a new session is needed ("" if none),
  // counted in stats().
  CallResult forward(const std::string& addr, const Request& req, const std::string& reason) override;
  // The same peer call, not counted (the hand-over of a session). A
  // peer that is gone or silent has its idle connections closed.
  CallResult call(const std::string& addr, const Request& req, const std::string& reason);
  ForwardStats& stats() { return stats_; }
  const ForwardStats& stats() const { return stats_; }

 private:
  bool is_self(const std::string& addr) const;
  const Config& config_;
  Registry* registry_;
  PeerClient client_;
  ForwardStats stats_;
};

}  // namespace tether
