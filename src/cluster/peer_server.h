// PeerServer: the peer listener of a worker, where other workers of the
// cluster forward requests and hand sessions over. libfcgi never reads it;
// every connection must first complete the handshake of peer_crypto.h, and
// every message after it must open with the connection's keys. What does
// not is refused before any app code runs, counted (firewall kinds
// peer.bad_hello, peer.wrong_destination, peer.stale_hello,
// peer.replayed_hello, peer.bad_message, peer.too_large,
// peer.key_dropped, peer.too_many_connections) and the connection closed.
//
// One thread per connection (peers keep few connections each, up to
// max_connections in all) plus the accepting thread. A request is handed to
// the handler with the Forwarded (the caller's route from its hello, the
// reason it gave) and a Connection: the handler may ack at once (an 'A'
// message), check whether the caller hung up, or abandon it.
//
// Drain: begin_drain() stops accepting and closes idle connections;
// requests in flight finish. stop() joins every thread.
//
// Thread safety: start/begin_drain/wait_drained/stop from one control
// thread; the handler runs on connection threads, concurrently.
#pragma once
#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cluster/forwarded.h"
#include "cluster/peer_crypto.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "fcgi/connection.h"
#include "tether/request.h"
#include "tether/response.h"
#include "token/token.h"

namespace tether {

struct PeerServerOptions {
  std::string route;                    // this worker's route (logs)
  std::vector<std::string> addresses;   // the names a hello may use for this worker (peer_listen, advertise)
  int64_t max_body_bytes = 1 << 20;     // a request body beyond this is refused (the connection closes)
  int64_t max_params_bytes = 64 * 1024;
  int idle_s = 75;                      // a connection idle this long is closed
  int request_timeout_s = 30;           // a message must arrive whole within this
  int max_connections = 1024;
};

struct PeerServerStats {
  std::atomic<uint64_t> connections{0};  // handshakes completed
  std::atomic<uint64_t> refused{0};      // connections refused (see the kinds above)
  std::atomic<uint64_t> requests{0};     // requests read
  std::atomic<uint64_t> failed{0};       // requests whose serving threw (500)
  std::atomic<uint64_t> abandoned{0};    // requests the handler abandoned (the caller had given up)
  std::atomic<int> open{0};              // connections open now
  std::atomic<int> in_flight{0};         // requests between read and reply
};

// The "peer" status section: the listener's address and these counts.
nlohmann::json peer_figures(const PeerServerStats& s, const std::string& address);

class PeerServer {
 public:
  using Handler = std::function<Response(Request&, const Forwarded&, fcgi::Connection&)>;
  PeerServer(int listen_fd, const TokenCodec& codec, PeerServerOptions opts, Handler handler, PeerServerStats& stats);
  ~PeerServer();
  Status start();
  void begin_drain();
  // Waits until no request is in flight or timeout_ms passed; true if so.
  bool wait_drained(int64_t timeout_ms);
  void stop();
  const PeerServerStats& stats() const { return stats_; }

 private:
  struct Conn {
    unique_fd fd;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  void accept_loop();
  void serve(Conn& c);
  // The handshake; on success the caller's hello and the connection's keys.
  bool shake_hands(int fd, peer::Hello* hello, uint8_t* kid, peer::ConnectionKeys* keys);
  // One request read from plain; the reply to send (or nothing: abandoned).
  bool serve_one(int fd, std::string_view plain, const peer::Hello& hello, peer::Cipher& send);
  void reap();  // joins connection threads that finished
  // Counts one refused connection or message (stats and firewall kind); false.
  bool refuse(const char* kind, const std::string& why);

  int listen_fd_;
  const TokenCodec& codec_;
  PeerServerOptions opts_;
  Handler handler_;
  PeerServerStats& stats_;
  peer::HelloGuard hellos_;
  unique_fd drain_fd_;  // an eventfd: readable once drain begins
  std::atomic<bool> draining_{false};
  std::thread acceptor_;
  std::mutex mu_;  // guards conns_
  std::list<std::unique_ptr<Conn>> conns_;
};

}  // namespace tether
