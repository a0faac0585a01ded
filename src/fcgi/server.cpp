// Acceptor threads on libfcgi, and drain (see server.h).
#include "fcgi/server.h"

#include <fcgiapp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <chrono>
#include <thread>

#include "common/firewall.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "fcgi/exchange.h"

namespace tether::fcgi {

FcgiServer::FcgiServer(int listen_fd, ServerOptions opts, Handler handler, ServerStats& stats)
    : listen_fd_(listen_fd), opts_(opts), handler_(std::move(handler)), stats_(stats) {}

FcgiServer::~FcgiServer() {
  begin_drain();
  stop();
}

Status FcgiServer::start() {
  if (FCGX_Init() != 0) return Status::error("FCGX_Init failed");
  std::lock_guard<std::mutex> lock(threads_mu_);
  for (int i = 0; i < opts_.threads; ++i) {
    if (!spawn_locked()) return Status::error("could not start acceptor thread " + std::to_string(i + 1));
  }
  return Status::ok();
}

bool FcgiServer::spawn_locked() {
  slots_.push_back(std::make_unique<Slot>());
  Slot* slot = slots_.back().get();
  stats_.threads++;
  try {
    threads_.emplace_back([this, slot] {
      // serve_one() has its own firewall; this one catches what the loop
      // around it might throw (out of memory), so the process goes on.
      if (!firewall::guard("fcgi.acceptor", [&] { loop(*slot); })) {
        stats_.threads--;
        firewall::thread_stopped("fcgi.acceptor", "an acceptor thread ended; the others serve on");
      }
    });
  } catch (const std::system_error& e) {  // out of memory or of threads: serve with those there are
    stats_.threads--;
    slots_.pop_back();
    if (log::every(spawn_failed_log_, 1000)) {
      log::error("acceptor_thread_failed", {{"threads", threads_.size()}, {"error", e.what()}});
    }
    return false;
  }
  return true;
}

void FcgiServer::grow() {
  std::lock_guard<std::mutex> lock(threads_mu_);
  if (draining_.load() || listening_.load() > 0) return;
  if (static_cast<int>(threads_.size()) >= opts_.max_threads) {
    if (stats_.at_max_threads++ == 0) {
      log::warn("acceptor_threads_exhausted", {{"max_acceptor_threads", opts_.max_threads}});
    }
    return;
  }
  spawn_locked();
}

namespace {

// A connection that stalls for idle_s inside a request makes libfcgi's reads
// fail, so it gives up on it and the thread is free again.
void set_read_timeout(int fd, int idle_s) {
  timeval tv{idle_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// Waits up to idle_s for the next request's first bytes (or EOF). Waiting
// here rather than in libfcgi's read matters: a read with SO_RCVTIMEO fails
// with EINTR when the process is stopped and continued (SIGSTOP, SIGCONT),
// and libfcgi would drop a connection that nginx has just sent a request on.
bool wait_readable(int fd, int idle_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(idle_s);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc > 0) return true;
    if (rc == 0 || errno != EINTR) return false;
  }
}

// Owns one acceptor thread's FCGX_Request: FCGX_Free runs on every way out
// of the loop, an exception its firewall catches included. FCGX_Free leaves
// the request empty (ipcFd -1), so freeing it again is harmless.
class OwnedRequest {
 public:
  // No listening socket for libfcgi (-1): a request head that fails makes
  // FCGX_Accept_r return at once instead of accepting a connection itself,
  // without the read timeout and without growing the pool.
  OwnedRequest() { FCGX_InitRequest(&fr_, -1, 0); }
  ~OwnedRequest() { close_connection(); }
  OwnedRequest(const OwnedRequest&) = delete;
  OwnedRequest& operator=(const OwnedRequest&) = delete;

  FCGX_Request& operator*() { return fr_; }
  FCGX_Request* operator->() { return &fr_; }
  FCGX_Request* get() { return &fr_; }
  // Frees what the request holds and closes its connection; ready for the next.
  void close_connection() { FCGX_Free(&fr_, 1); }
  // Hands it a new connection to read requests from (libfcgi closes it).
  void adopt(unique_fd conn) {
    fr_.ipcFd = conn.release();
    fr_.keepConnection = 1;  // FCGX_Accept_r reads this connection instead of closing it
  }

 private:
  FCGX_Request fr_;
};

// The request's connection as the handler sees it (connection.h).
class RequestConnection final : public Connection {
 public:
  explicit RequestConnection(FCGX_Request& fr) : fr_(fr) {}
  bool caller_gone() override {
    pollfd p{fr_.ipcFd, POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }
  void early_note(std::string_view text) override {
    FCGX_PutStr(text.data(), static_cast<int>(text.size()), fr_.err);
    FCGX_FFlush(fr_.err);
  }
  void abandon() override { abandoned_ = true; }
  bool abandoned() const { return abandoned_; }

 private:
  FCGX_Request& fr_;
  bool abandoned_ = false;
};

}  // namespace

int FcgiServer::accept_connection() {
  for (;;) {
    listening_++;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    listening_--;
    if (fd >= 0) {
      int one = 1;  // no-op (ENOTSUP) on a unix socket
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      set_read_timeout(fd, opts_.keepalive_idle_s);
      return fd;
    }
    if (draining_.load()) return -1;
    if (errno == EINTR || errno == ECONNABORTED) continue;
    return -errno;
  }
}

void FcgiServer::loop(Slot& slot) {
  OwnedRequest fr;  // freed however the loop ends
  while (!draining_.load()) {
    if (fr->ipcFd < 0) {
      int fd = accept_connection();
      if (fd < 0) {
        if (draining_.load()) break;
        // Out of file descriptors and the like: say so at most once a second.
        if (log::every(accept_failed_log_, 1000)) {
          log::error("accept_failed", {{"errno", -fd}, {"error", strerror(-fd)}});
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // back off, don't spin
        continue;
      }
      unique_fd conn(fd);  // closed if growing the pool throws
      // This thread took a new connection and nobody waits for the next one.
      if (listening_.load() == 0) grow();
      fr.adopt(std::move(conn));
    }
    {
      std::lock_guard<std::mutex> lock(slot.mu);
      // Checked again under the lock: wait_drained() either sees idle_fd or
      // this thread sees draining_, never neither.
      if (draining_.load()) break;
      slot.idle_fd = fr->ipcFd;  // waiting for a request on this connection
    }
    bool ready = wait_readable(fr->ipcFd, opts_.keepalive_idle_s);
    int rc = ready ? FCGX_Accept_r(fr.get()) : -1;
    {
      std::lock_guard<std::mutex> lock(slot.mu);
      slot.idle_fd = -1;
    }
    if (!ready) fr.close_connection();  // idle for keepalive_idle_s: close it, give the thread back
    // The connection closed, timed out or sent no valid request: it is
    // closed now (ipcFd is -1 again).
    if (rc < 0) continue;
    stats_.in_flight++;
    // The firewall: nothing thrown while serving (a handler, a hook, tether's
    // own code) leaves this thread; the client gets a 500 if nothing was sent.
    bool wrote = false;
    if (!firewall::guard("fcgi.request", [&] { serve_one(fr.get(), &wrote); })) {
      stats_.failed++;
      if (!wrote) {
        // Best effort: the reply may be half written; then libfcgi's stream is closed after it.
        firewall::guard("fcgi.error_reply", [&] {
          write_response(*fr, Response::text("internal error\n", 500), false);
        });
      }
      fr->keepConnection = 0;
    }
    if (draining_.load()) fr->keepConnection = 0;  // close after the reply
    FCGX_Finish_r(fr.get());
    stats_.in_flight--;
  }
  stats_.threads--;
}

void FcgiServer::serve_one(FCGX_Request* fr, bool* wrote) {
  Request req;
  stats_.accepted++;
  if (!read_params(*fr, req, opts_.max_params_bytes)) {
    stats_.params_too_large++;
    fr->keepConnection = 0;  // the body is left unread: close after the reply
    Response big = Response::text(
        "request headers larger than " + std::to_string(opts_.max_params_bytes) + " bytes in all\n", 431);
    *wrote = true;
    if (!write_response(*fr, big, false)) stats_.write_failed++;
    return;
  }
  Response resp;
  switch (read_body(*fr, opts_.max_body_bytes, req)) {
    case BodyStatus::Ok: {
      RequestConnection conn(*fr);
      resp = handler_(req, conn);
      if (conn.abandoned()) {
        stats_.abandoned++;
        fr->keepConnection = 0;
        *wrote = true;  // nothing is to be sent
        return;
      }
      break;
    }
    case BodyStatus::TooLarge:
      stats_.too_large++;
      resp = Response::text("request body larger than " + std::to_string(opts_.max_body_bytes) + " bytes\n", 413);
      break;
    case BodyStatus::Broken:
      stats_.broken++;
      fr->keepConnection = 0;
      resp = Response::text("request body cut short\n", 400);
      break;
  }
  *wrote = true;
  if (!write_response(*fr, resp, req.method == "HEAD")) stats_.write_failed++;
}

void FcgiServer::begin_drain() {
  if (draining_.exchange(true)) return;
  // Wakes every thread blocked in accept(2) with EINVAL; nothing new connects.
  ::shutdown(listen_fd_, SHUT_RDWR);
}

bool FcgiServer::wait_drained(int64_t timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  // A condition, not a timer: in_flight is polled at a short interval.
  while (stats_.in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  bool drained = stats_.in_flight.load() == 0;
  // Connections waiting for a next request that has not come: close their
  // read side, so the thread wakes, sees EOF and exits. One with bytes
  // pending is left to be served (its reply closes it).
  std::lock_guard<std::mutex> threads_lock(threads_mu_);
  for (auto& slot : slots_) {
    std::lock_guard<std::mutex> lock(slot->mu);
    if (slot->idle_fd < 0) continue;
    pollfd p{slot->idle_fd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 0) ::shutdown(slot->idle_fd, SHUT_RD);
  }
  return drained;
}

void FcgiServer::stop() {
  begin_drain();  // no-op if drain began: the threads leave their accept(2)
  // Taken out of the list, then joined without the lock: a thread that has
  // just accepted a connection calls grow(), which takes the lock (and,
  // draining, adds nothing). Joining under it deadlocked with that thread.
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(threads_mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
}

}  // namespace tether::fcgi
