// The calling side of the peer channel (see peer_client.h).
#include "cluster/peer_client.h"

#include <cerrno>
#include <cstring>

#include "common/clock.h"

namespace tether {
namespace {

using Kind = CallResult::Kind;
constexpr size_t kMaxHandshakeFrame = 1024;
constexpr size_t kMaxReplyFrame = 256u << 20;  // a reply larger than this breaks off (Failed)

CallResult fail(Kind kind, std::string error) {
  CallResult r;
  r.kind = kind;
  r.error = std::move(error);
  return r;
}

}  // namespace

std::optional<PeerClient::Conn> PeerClient::take(const std::string& addr, const KeySet& keys) {
  std::vector<Conn> dropped;  // closed after the lock is let go
  std::lock_guard<std::mutex> lock(mu_);
  auto it = idle_.find(addr);
  while (it != idle_.end() && !it->second.empty()) {
    Conn c = std::move(it->second.back());
    it->second.pop_back();
    if (c.kid == keys.sealing().id()) return c;
    dropped.push_back(std::move(c));  // sealed with a key that no longer seals (a rotation)
  }
  return std::nullopt;
}

void PeerClient::give_back(const std::string& addr, Conn conn) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& conns = idle_[addr];
  if (conns.size() < max_idle_) conns.push_back(std::move(conn));
}

void PeerClient::forget(const std::string& addr) {
  std::vector<Conn> gone;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = idle_.find(addr);
  if (it == idle_.end()) return;
  gone = std::move(it->second);
  idle_.erase(it);
}

Result<PeerClient::Conn> PeerClient::open(const std::string& addr, const KeySet& keys,
                                          net::Clock::time_point deadline, bool* unreachable) {
  using R = Result<Conn>;
  Conn c;
  c.fd = net::connect_stream(addr, deadline);
  *unreachable = !c.fd;
  if (!c.fd) return R::error("connect " + addr + ": " + strerror(errno));
  peer::Hello hello{my_route_, addr, unix_millis()};
  peer::Nonce nc, ns;
  if (!peer::write_frame(c.fd.get(), peer::Handshake::hello(keys, hello, &nc), deadline)) {
    return R::error("sending the hello to " + addr + " failed");
  }
  std::string welcome;
  if (peer::read_frame(c.fd.get(), &welcome, kMaxHandshakeFrame, deadline, deadline) != peer::FrameStatus::Ok) {
    return R::error("no welcome from " + addr + " (it refused the hello, or is not a tether peer listener)");
  }
  const TokenKey& key = keys.sealing();
  if (Status s = peer::Handshake::open_welcome(key, nc, addr, welcome, &ns); !s) {
    return R::error(addr + ": " + s.message());
  }
  c.kid = key.id();
  peer::ConnectionKeys k = peer::Handshake::keys(key, nc, ns, hello, true);
  c.send = std::move(k.send);
  c.recv = std::move(k.recv);
  return c;
}

CallResult PeerClient::call(const std::string& addr, const peer::Params& params, std::string_view body,
                                  int quick_ms, int total_ms) {
  auto start = net::Clock::now();
  auto quick = start + std::chrono::milliseconds(quick_ms);
  auto total = start + std::chrono::milliseconds(total_ms);
  std::shared_ptr<const KeySet> keys = codec_.keys();
  std::string request = peer::encode_request(params, body);
  // A kept connection may have been closed by the peer while idle: if it
  // fails before anything comes back, try once more on a new connection.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::optional<Conn> kept = attempt == 0 ? take(addr, *keys) : std::nullopt;
    bool reused = kept.has_value();
    Conn conn;
    if (reused) {
      conn = std::move(*kept);
    } else {
      bool unreachable = false;
      auto opened = open(addr, *keys, quick, &unreachable);
      // Could not connect at all, or the peer never completed the handshake.
      if (!opened) return fail(unreachable ? Kind::Unreachable : Kind::NoAnswer, opened.message());
      conn = std::move(opened.value());
    }
    if (!peer::write_frame(conn.fd.get(), conn.send.seal(request), quick)) {
      if (reused) continue;
      return fail(Kind::NoAnswer, "sending the request to " + addr + " failed");
    }
    bool got_any = false;
    for (;;) {
      std::string frame, plain;
      peer::FrameStatus st =
          peer::read_frame(conn.fd.get(), &frame, kMaxReplyFrame, got_any ? total : quick, total);
      if (st != peer::FrameStatus::Ok) {
        if (!got_any && reused && st == peer::FrameStatus::Closed) break;  // try a new connection
        if (!got_any) return fail(Kind::NoAnswer, "no answer from " + addr + " within the quick timeout");
        return fail(Kind::Failed, st == peer::FrameStatus::Timeout ? "the reply took longer than the request timeout"
                                                                   : "the reply from " + addr + " broke off");
      }
      if (!conn.recv.open(frame, &plain)) {
        return fail(got_any ? Kind::Failed : Kind::NoAnswer, "a message from " + addr + " did not open");
      }
      got_any = true;
      if (plain.size() == 1 && plain[0] == peer::kAck) continue;
      CallResult r;
      if (!peer::decode_reply(plain, &r.response)) return fail(Kind::Failed, "malformed reply from " + addr);
      r.kind = Kind::Ok;
      give_back(addr, std::move(conn));
      return r;
    }
  }
  return fail(Kind::NoAnswer, "the peer " + addr + " closed the connection without answering");
}

}  // namespace tether
