// The peer listener (see peer_server.h).
#include "cluster/peer_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>

#include "cluster/peer_wire.h"
#include "common/clock.h"
#include "common/firewall.h"
#include "common/log.h"
#include "fcgi/exchange.h"

namespace tether {
namespace {

constexpr size_t kMaxHelloFrame = 1024;
constexpr int kHandshakeMs = 5000;

net::Clock::time_point in_ms(int64_t ms) { return net::Clock::now() + std::chrono::milliseconds(ms); }

// What the gate may do with a peer's connection while it serves a request.
class PeerConnection final : public fcgi::Connection {
 public:
  PeerConnection(int fd, peer::Cipher& send, int timeout_s) : fd_(fd), send_(send), timeout_s_(timeout_s) {}
  bool caller_gone() override {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) != 1) return false;
    if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) return true;
    char c;
    return ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }
  void early_note(std::string_view) override {
    if (acked_) return;
    acked_ = true;
    peer::write_frame(fd_, send_.seal(std::string(1, peer::kAck)), in_ms(timeout_s_ * 1000LL));
  }
  void abandon() override { abandoned_ = true; }
  bool abandoned() const { return abandoned_; }

 private:
  int fd_;
  peer::Cipher& send_;
  int timeout_s_;
  bool acked_ = false;
  bool abandoned_ = false;
};

}  // namespace

nlohmann::json peer_figures(const PeerServerStats& s, const std::string& address) {
  return {{"listen", address},           {"connections", s.connections.load()}, {"open", s.open.load()},
          {"refused", s.refused.load()}, {"requests", s.requests.load()},       {"in_flight", s.in_flight.load()},
          {"failed", s.failed.load()},   {"abandoned", s.abandoned.load()}};
}

PeerServer::PeerServer(int listen_fd, const TokenCodec& codec, PeerServerOptions opts, Handler handler,
                       PeerServerStats& stats)
    : listen_fd_(listen_fd), codec_(codec), opts_(std::move(opts)), handler_(std::move(handler)), stats_(stats) {}

PeerServer::~PeerServer() { stop(); }

Status PeerServer::start() {
  drain_fd_ = unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!drain_fd_) return Status::error(std::string("peer listener: eventfd: ") + strerror(errno));
  try {
    acceptor_ = std::thread([this] { accept_loop(); });
  } catch (const std::system_error& e) {
    return Status::error(std::string("peer listener: no thread: ") + e.what());
  }
  return Status::ok();
}

void PeerServer::begin_drain() {
  if (draining_.exchange(true) || !drain_fd_) return;
  uint64_t one = 1;
  if (::write(drain_fd_.get(), &one, sizeof one) < 0) log::warn("peer_drain_signal_failed", {{"errno", errno}});
}

bool PeerServer::wait_drained(int64_t timeout_ms) {
  auto deadline = in_ms(timeout_ms);
  // A condition, not a timer: in_flight is polled at a short interval.
  while (stats_.in_flight.load() > 0 && net::Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return stats_.in_flight.load() == 0;
}

void PeerServer::stop() {
  begin_drain();
  if (acceptor_.joinable()) acceptor_.join();
  std::list<std::unique_ptr<Conn>> conns;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conns.swap(conns_);
  }
  for (auto& c : conns) {
    if (c->thread.joinable()) c->thread.join();
  }
}

void PeerServer::reap() {
  std::list<std::unique_ptr<Conn>> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      auto next = std::next(it);
      if ((*it)->done.load()) finished.splice(finished.end(), conns_, it);
      it = next;
    }
  }
  for (auto& c : finished) c->thread.join();
}

void PeerServer::accept_loop() {
  while (!draining_.load()) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {drain_fd_.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) break;
    if (draining_.load()) break;
    if ((p[0].revents & POLLIN) == 0) continue;
    unique_fd fd(::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd) continue;  // the caller gave up already, or no fd is left: try the next
    // The ack and the reply are two small writes: without this, Nagle holds
    // the reply until the ack is acknowledged (a delayed ACK: 40 ms).
    int one = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on a unix socket
    reap();
    if (stats_.open.load() >= opts_.max_connections) {
      refuse("peer.too_many_connections", "already " + std::to_string(opts_.max_connections) + " peer connections open");
      continue;
    }
    auto conn = std::make_unique<Conn>();
    conn->fd = std::move(fd);
    Conn* c = conn.get();
    std::lock_guard<std::mutex> lock(mu_);
    try {
      c->thread = std::thread([this, c] {
        firewall::guard("peer.connection", [&] { serve(*c); });
        c->fd.reset();
        c->done = true;
      });
    } catch (const std::system_error&) {
      firewall::refused("peer.too_many_connections", "the system has no thread to give");
      continue;
    }
    conns_.push_back(std::move(conn));
  }
}

bool PeerServer::refuse(const char* kind, const std::string& why) {
  stats_.refused++;
  firewall::refused(kind, why);
  return false;
}

bool PeerServer::shake_hands(int fd, peer::Hello* hello, uint8_t* kid, peer::ConnectionKeys* keys) {
  auto deadline = in_ms(kHandshakeMs);
  std::string frame;
  auto st = peer::read_frame(fd, &frame, kMaxHelloFrame, deadline, deadline);
  if (st == peer::FrameStatus::Closed) return false;  // a probe: connected and went away
  if (st != peer::FrameStatus::Ok) {
    return refuse("peer.bad_hello", st == peer::FrameStatus::TooLarge ? "not a peer hello (a frame too large)"
                                                                      : "no whole hello within 5 s");
  }
  std::shared_ptr<const KeySet> set = codec_.keys();
  peer::Nonce nc, ns;
  auto opened = peer::Handshake::open_hello(*set, frame, kid, &nc);
  if (!opened) return refuse("peer.bad_hello", opened.message());
  *hello = std::move(opened.value());
  if (std::find(opts_.addresses.begin(), opts_.addresses.end(), hello->to) == opts_.addresses.end()) {
    return refuse("peer.wrong_destination", "a hello from " + hello->from + " for " + hello->to + ", not this worker");
  }
  int64_t now = unix_millis();
  if (hello->time_ms < now - peer::kHelloWindowMs || hello->time_ms > now + peer::kHelloWindowMs) {
    return refuse("peer.stale_hello", "a hello from " + hello->from + " more than 30 s off this worker's clock");
  }
  if (!hellos_.first_time(nc, now)) return refuse("peer.replayed_hello", "a hello seen before, from " + hello->from);
  const TokenKey* key = set->find(*kid);
  if (!peer::write_frame(fd, peer::Handshake::welcome(*key, nc, hello->to, &ns), deadline)) return false;
  *keys = peer::Handshake::keys(*key, nc, ns, *hello, false);
  stats_.connections++;
  return true;
}

void PeerServer::serve(Conn& c) {
  stats_.open++;
  struct Closed {
    std::atomic<int>& open;
    ~Closed() { open--; }
  } closed{stats_.open};
  int fd = c.fd.get();
  peer::Hello hello;
  uint8_t kid = 0;
  peer::ConnectionKeys keys;
  if (!shake_hands(fd, &hello, &kid, &keys)) return;
  size_t max_frame = static_cast<size_t>(opts_.max_body_bytes + 2 * opts_.max_params_bytes) + 65536;
  for (;;) {
    pollfd p[2] = {{fd, POLLIN, 0}, {drain_fd_.get(), POLLIN, 0}};
    int ready = ::poll(p, 2, opts_.idle_s * 1000);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) return;  // idle, or draining
    std::string frame, plain;
    auto deadline = in_ms(opts_.request_timeout_s * 1000LL);
    auto st = peer::read_frame(fd, &frame, max_frame, deadline, deadline);
    if (st == peer::FrameStatus::TooLarge) {
      refuse("peer.too_large", "a message from " + hello.from + " larger than " + std::to_string(max_frame));
    }
    if (st != peer::FrameStatus::Ok) return;
    if (codec_.keys()->find(kid) == nullptr) {
      refuse("peer.key_dropped", "a connection from " + hello.from + " under a key no longer held");
      return;
    }
    if (!keys.recv.open(frame, &plain)) {
      refuse("peer.bad_message", "a message from " + hello.from + " did not open (altered or replayed)");
      return;
    }
    if (!serve_one(fd, plain, hello, keys.send)) return;
  }
}

bool PeerServer::serve_one(int fd, std::string_view plain, const peer::Hello& hello, peer::Cipher& send) {
  peer::Params params;
  std::string body;
  if (!peer::decode_request(plain, opts_.max_params_bytes, &params, &body)) {
    return refuse("peer.bad_message", "a malformed request from " + hello.from);
  }
  stats_.requests++;
  Request req;
  std::map<std::string, std::string> side;
  fcgi::read_param_pairs(params, req, kPeerParamPrefix, &side);
  Response resp;
  PeerConnection conn(fd, send, opts_.request_timeout_s);
  if (static_cast<int64_t>(body.size()) > opts_.max_body_bytes) {
    resp = Response::text("request body too large\n", 413);
  } else {
    req.body = std::move(body);
    Forwarded from{hello.from, side.count(kPeerReasonParam) ? side[kPeerReasonParam] : ""};
    stats_.in_flight++;
    if (!firewall::guard("peer.request", [&] { resp = handler_(req, from, conn); })) {
      stats_.failed++;
      resp = Response::text("internal error\n", 500);
    }
    stats_.in_flight--;
  }
  if (conn.abandoned()) {
    stats_.abandoned++;
    return false;
  }
  return peer::write_frame(fd, send.seal(peer::encode_reply(resp)), in_ms(opts_.request_timeout_s * 1000LL));
}

}  // namespace tether
