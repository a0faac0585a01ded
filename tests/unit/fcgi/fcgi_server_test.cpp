// Tests FcgiServer (src/fcgi/server) against connections that never finish
// a request head: they must neither hold every acceptor thread nor stay open
// past keepalive_idle_s. Requests are made with Client (src/fcgi/client).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <thread>
#include <vector>

#include "fcgi/client.h"
#include "fcgi/listener.h"
#include "fcgi/server.h"

namespace tether {
namespace {

class FcgiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tether-server-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    addr_ = "unix:" + dir_ + "/w.sock";
    auto fd = fcgi::open_listener(addr_);
    ASSERT_TRUE(fd) << fd.message();
    listen_fd_ = fd.value();
    fcgi::ServerOptions opts;
    opts.threads = 2;
    opts.max_threads = 64;
    opts.keepalive_idle_s = 1;
    server_ = make_server(listen_fd_, opts);
    ASSERT_TRUE(server_->start());
  }
  void TearDown() override {
    for (int fd : clients_) ::close(fd);
    if (server_) {
      server_->begin_drain();
      server_->wait_drained(5000);
      server_->stop();
    }
    if (listen_fd_ >= 0) ::close(listen_fd_);
    std::filesystem::remove_all(dir_);
  }
  // A server on fd whose every request gets "ok".
  std::unique_ptr<fcgi::FcgiServer> make_server(int fd, const fcgi::ServerOptions& opts) {
    return std::make_unique<fcgi::FcgiServer>(
        fd, opts, [](Request&, fcgi::Connection&) { return Response::text("ok"); }, stats_);
  }
  // A connection to dir_/name that has sent nothing yet.
  int connected_client(const std::string& name = "w.sock") {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, (dir_ + "/" + name).c_str(), sizeof sa.sun_path - 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    clients_.push_back(fd);
    return fd;
  }
  // A connection that sends the first byte of a record header, then nothing.
  int stalled_client() {
    int fd = connected_client();
    EXPECT_EQ(::send(fd, "\x01", 1, MSG_NOSIGNAL), 1);
    return fd;
  }
  fcgi::ClientResult get() {
    fcgi::Params params = {{"REQUEST_METHOD", "GET"}, {"DOCUMENT_URI", "/"}, {"REQUEST_URI", "/"}};
    return client_.call(addr_, params, "", 5000, 5000);
  }

  std::string dir_, addr_;
  int listen_fd_ = -1;
  fcgi::ServerStats stats_;
  std::unique_ptr<fcgi::FcgiServer> server_;
  fcgi::Client client_;
  std::vector<int> clients_;
};

// Regression: a thread that took a connection inside libfcgi's accept read
// its request head with no timeout and without growing the pool, so as many
// stalled connections as acceptor threads stopped the worker for good.
TEST_F(FcgiServerTest, StalledConnectionsDoNotStarveNewOnes) {
  for (int i = 0; i < 6; ++i) stalled_client();
  auto r = get();
  ASSERT_EQ(r.kind, fcgi::ClientResult::Kind::Ok) << r.error;
  EXPECT_EQ(r.response.body, "ok");
  EXPECT_GT(stats_.threads.load(), 6);
}

TEST_F(FcgiServerTest, StalledConnectionIsClosedAfterTheIdleTimeout) {
  int fd = stalled_client();
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "still open after 10 s (keepalive_idle_s is 1)";
  char c;
  EXPECT_LE(::recv(fd, &c, 1, 0), 0);  // closed, nothing said
  EXPECT_EQ(get().kind, fcgi::ClientResult::Kind::Ok);
}

// Regression: stop() joined the threads holding the lock that grow() takes,
// so a thread that had just accepted a connection (and, the last one
// listening, asked for another) deadlocked the shutdown. One acceptor
// thread, a connection, drain and stop() at once: many times, each with a watchdog.
TEST_F(FcgiServerTest, StopRightAfterAnAcceptReturns) {
  server_.reset();  // the fixture's server: out of the way
  for (int i = 0; i < 50; ++i) {
    std::string name = "s" + std::to_string(i) + ".sock";
    auto fd = fcgi::open_listener("unix:" + dir_ + "/" + name);
    ASSERT_TRUE(fd) << fd.message();
    fcgi::ServerOptions opts;
    opts.threads = 1;
    opts.max_threads = 4;
    auto server = make_server(fd.value(), opts);
    ASSERT_TRUE(server->start());
    // Sends nothing and has finished sending: closing it does not wait
    // (libfcgi's close lingers up to 2 s for a peer that has not).
    ::shutdown(connected_client(name), SHUT_WR);
    std::promise<void> stopped;
    std::thread stopper([&server, &stopped] {
      server->begin_drain();  // as a worker stops
      server->wait_drained(5000);
      server->stop();
      stopped.set_value();
    });
    if (stopped.get_future().wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      stopper.detach();  // deadlocked: leave it and the server be, report
      server.release();  // NOLINT(bugprone-unused-return-value): destroying it would hang too
      FAIL() << "stop() did not return within 10 s (round " << i << ")";
    }
    stopper.join();
    ::close(fd.value());
  }
}

}  // namespace
}  // namespace tether
