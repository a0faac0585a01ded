// FcgiServer: the FastCGI server side of a worker, on libfcgi.
//
// Acceptor threads each accept(2) on the shared listening socket (no accept
// mutex: the kernel hands each connection to one waiter) and let
// FCGX_Accept_r read the request from that connection; libfcgi itself never
// accepts. A thread serves one connection at a time; with nginx
// `fastcgi_keep_conn on` it stays on that connection between requests. So
// that idle kept connections never starve new ones, the pool grows by one
// thread whenever a thread takes a new connection and none is left waiting
// on the listener, up to max_threads, before the first byte is read; and a
// connection that sends nothing for keepalive_idle_s (longer than nginx's
// own 60 s) is closed, whether it is idle between requests or has not
// finished its first request head, giving its thread back.
//
// Drain (SIGTERM): begin_drain() shuts the listener down (no new
// connections), requests in flight finish and their connections close after
// the reply; wait_drained() then closes connections that sit idle with no
// request pending. stop() joins the threads.
//
// Thread safety: start/begin_drain/wait_drained/stop from one control
// thread; the handler runs on acceptor threads, concurrently; counters are
// atomics readable anywhere.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "fcgi/connection.h"
#include "tether/request.h"
#include "tether/response.h"

struct FCGX_Request;

namespace tether::fcgi {

struct ServerOptions {
  int threads = 16;       // started at once
  int max_threads = 1024;  // grown to on demand
  int64_t max_body_bytes = 1 << 20;
  int keepalive_idle_s = 75;
  int64_t max_params_bytes = 64 * 1024;  // a request's FastCGI params beyond this get 431 (see exchange.h)
};

struct ServerStats {
  std::atomic<uint64_t> accepted{0};      // requests read
  std::atomic<uint64_t> too_large{0};     // 413s
  std::atomic<uint64_t> params_too_large{0};  // 431s: params past max_params_bytes
  std::atomic<uint64_t> broken{0};        // bodies cut short by the peer
  std::atomic<uint64_t> write_failed{0};  // replies the peer did not take
  std::atomic<uint64_t> abandoned{0};     // requests the handler abandoned (Connection::abandon)
  std::atomic<uint64_t> failed{0};        // requests whose serving threw (500; see common/firewall.h)
  std::atomic<int> in_flight{0};          // requests between accept and finish
  std::atomic<int> threads{0};            // acceptor threads running
  std::atomic<uint64_t> at_max_threads{0};  // times a new connection found no free thread
};

class FcgiServer {
 public:
  using Handler = std::function<Response(Request&, Connection& conn)>;

  // stats outlives the server (its owner shows it on the status route).
  FcgiServer(int listen_fd, ServerOptions opts, Handler handler, ServerStats& stats);
  ~FcgiServer();
  Status start();
  void begin_drain();
  // Waits until no request is in flight or timeout_ms passed; then closes
  // idle kept connections. True if it drained in time.
  bool wait_drained(int64_t timeout_ms);
  void stop();
  const ServerStats& stats() const { return stats_; }

 private:
  // What one acceptor thread is doing, for drain to see.
  struct Slot {
    std::mutex mu;
    int idle_fd = -1;  // >= 0: waiting for the next request on this kept connection
  };
  void loop(Slot& slot);
  // A new connection with its read timeout set; -errno on failure.
  int accept_connection();
  // Reads, runs and answers one request; *wrote once a reply is on its way.
  void serve_one(FCGX_Request* fr, bool* wrote);
  bool spawn_locked();  // threads_mu_ held; false (logged) if the system has no thread to give
  void grow();


  int listen_fd_;
  ServerOptions opts_;
  Handler handler_;
  ServerStats& stats_;
  std::atomic<bool> draining_{false};
  std::atomic<int> listening_{0};  // threads in accept(2) on the listener
  std::mutex threads_mu_;          // guards slots_ and threads_ (they grow)
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> threads_;  // default stacks: nothing they run recurses per input byte
  std::atomic<int64_t> spawn_failed_log_{0};  // log::every stamps
  std::atomic<int64_t> accept_failed_log_{0};
};

}  // namespace tether::fcgi
