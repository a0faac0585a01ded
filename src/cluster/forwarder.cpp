// Finding a worker and forwarding to it (see forwarder.h).
#include "cluster/forwarder.h"

#include "common/firewall.h"

namespace tether {

std::string Forwarder::address_of(const std::string& host, int worker) const {
  if (host == config_.host && worker == config_.worker) return config_.advertise;
  auto dir = registry_ ? registry_->workers() : nullptr;
  if (dir) {
    for (const auto& w : *dir) {
      if (w.host == host && w.worker == worker) return w.addr;
    }
    return "";
  }
  if (host == config_.host && config_.peer_listen_pattern.find("{worker}") != std::string::npos) {
    std::string addr = config_.peer_listen_pattern;
    addr.replace(addr.find("{worker}"), 8, std::to_string(worker));
    return addr;
  }
  return "";
}

bool Forwarder::is_self(const std::string& addr) const {
  return addr == config_.advertise || addr == config_.peer_listen || addr == config_.listen;
}

CallResult Forwarder::call(const std::string& addr, const Request& req, const std::string& reason) {
  if (is_self(addr)) {
    // A stale or forged entry sent us to ourselves: the call would come back
    // here, and again, until the acceptor threads ran out.
    firewall::refused("forward.to_self", "an entry named this worker's own address " + addr);
    return CallResult{CallResult::Kind::Unreachable, Response(), "this worker's own address"};
  }
  auto r = client_.call(addr, peer::request_params(req, reason), req.body, config_.quick_timeout_ms,
                        config_.request_timeout_s * 1000);
  if (r.kind == CallResult::Kind::Unreachable || r.kind == CallResult::Kind::NoAnswer) {
    client_.forget(addr);
  }
  return r;
}

CallResult Forwarder::forward(const std::string& addr, const Request& req, const std::string& reason) {
  if (is_self(addr)) return call(addr, req, reason);  // refused, and not a forward
  stats_.out++;
  auto r = call(addr, req, reason);
  if (r.kind == CallResult::Kind::Unreachable || r.kind == CallResult::Kind::NoAnswer) {
    stats_.lost++;
  } else if (r.kind == CallResult::Kind::Failed) {
    stats_.failed++;
  }
  return r;
}

}  // namespace tether
