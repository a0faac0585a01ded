// A small FastCGI server on a unix socket for the Client tests: one
// thread accepts, one thread per connection reads whole requests and hands
// each to a handler that writes the reply. Stopping (the destructor) wakes
// every wait; every wait is bounded by kBoundMs.
// Thread safety: made, queried and destroyed on the test's thread; the
// handler runs on the connection threads.
#pragma once
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fcgi/client.h"
#include "fcgi/records.h"

namespace tether::test_support {

inline constexpr int kBoundMs = 10000;  // no wait of the fake peer lasts longer

// One request as the server received it.
struct Got {
  fcgi::Params params;
  std::string body;
  bool keep_conn = false;
  int params_records = 0;  // non-empty PARAMS records
  int stdin_records = 0;   // non-empty STDIN records
};

inline fcgi::Params decode_pairs(const std::string& s) {
  fcgi::Params out;
  size_t i = 0;
  auto u = [&](size_t k) { return static_cast<size_t>(static_cast<uint8_t>(s[k])); };
  auto length = [&]() -> size_t {
    size_t b0 = u(i);
    if (b0 < 128) {
      ++i;
      return b0;
    }
    size_t n = ((b0 & 0x7f) << 24) | (u(i + 1) << 16) | (u(i + 2) << 8) | u(i + 3);
    i += 4;
    return n;
  };
  while (i < s.size()) {
    size_t nl = length(), vl = length();
    out.emplace_back(s.substr(i, nl), s.substr(i + nl, vl));
    i += nl + vl;
  }
  return out;
}

inline void send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// STDERR ack, stdout as a stream, then END_REQUEST.
inline std::string reply(const std::string& stdout_data) {
  std::string w;
  fcgi::append_record(w, fcgi::kStderr, 1, "ack");
  fcgi::append_stream(w, fcgi::kStdout, 1, stdout_data);
  fcgi::append_record(w, fcgi::kEndRequest, 1, std::string(8, '\0'));
  return w;
}

// A FastCGI server: one thread accepts, one thread per connection reads
// requests and calls the handler, which writes the reply and says whether to
// keep the connection. Stopping (the destructor) wakes every wait.
class FakePeer {
 public:
  // n: the request's index over the server's life. false: close the connection.
  using Handler = std::function<bool(int fd, const Got& got, int n, int stop_fd)>;

  explicit FakePeer(Handler handler) : handler_(std::move(handler)) {
    char tmpl[] = "/tmp/tether-peer-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr || ::pipe(stop_) != 0) return;
    dir_ = tmpl;
    path_ = dir_ + "/peer.sock";
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path_.c_str(), sizeof sa.sun_path - 1);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(listen_fd_, 16) != 0) return;
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~FakePeer() {
    if (stop_[1] >= 0) (void)!::write(stop_[1], "x", 1);
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& t : conns_) t.join();  // the acceptor is gone: no new ones
    if (listen_fd_ >= 0) ::close(listen_fd_);
    for (int fd : stop_) {
      if (fd >= 0) ::close(fd);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  bool ok() const { return acceptor_.joinable(); }
  std::string addr() const { return "unix:" + path_; }
  const std::string& dir() const { return dir_; }

  int accepted() {
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_;
  }
  std::vector<Got> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }
  // Waits (bounded) until the server has closed n connections.
  bool wait_closed(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(kBoundMs), [&] { return closed_ >= n; });
  }

 private:
  // Waits for fd to be readable; false on stop or after kBoundMs.
  bool wait_readable(int fd) {
    pollfd p[2] = {{fd, POLLIN, 0}, {stop_[0], POLLIN, 0}};
    return ::poll(p, 2, kBoundMs) > 0 && p[1].revents == 0;
  }

  void accept_loop() {
    while (wait_readable(listen_fd_)) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard<std::mutex> lock(mu_);
      ++accepted_;
      conns_.emplace_back([this, fd] { serve(fd); });
    }
  }

  // Reads one whole request; false on EOF, error or stop.
  bool read_request(int fd, fcgi::RecordReader& reader, Got* got) {
    bool params_done = false;
    std::string pairs;
    for (;;) {
      fcgi::Record rec;
      auto next = reader.next(&rec);
      if (next == fcgi::RecordReader::Next::Bad) return false;
      if (next == fcgi::RecordReader::Next::NeedMore) {
        char buf[65536];
        if (!wait_readable(fd)) return false;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return false;
        reader.feed(buf, static_cast<size_t>(n));
        continue;
      }
      if (rec.type == fcgi::kBeginRequest && rec.content.size() == 8) got->keep_conn = (rec.content[2] & 1) != 0;
      if (rec.type == fcgi::kParams && !rec.content.empty()) ++got->params_records, pairs += rec.content;
      if (rec.type == fcgi::kParams && rec.content.empty()) params_done = true;
      if (rec.type == fcgi::kStdin && !rec.content.empty()) ++got->stdin_records, got->body += rec.content;
      if (rec.type == fcgi::kStdin && rec.content.empty()) {
        if (!params_done) return false;
        got->params = decode_pairs(pairs);
        return true;
      }
    }
  }

  void serve(int fd) {
    fcgi::RecordReader reader;
    for (;;) {
      Got got;
      if (!read_request(fd, reader, &got)) break;
      int n;
      {
        std::lock_guard<std::mutex> lock(mu_);
        n = static_cast<int>(got_.size());
        got_.push_back(got);
      }
      if (!handler_(fd, got, n, stop_[0]) || !got.keep_conn) break;
    }
    ::close(fd);
    std::lock_guard<std::mutex> lock(mu_);
    ++closed_;
    cv_.notify_all();
  }

  Handler handler_;
  std::string dir_, path_;
  int listen_fd_ = -1;
  int stop_[2] = {-1, -1};
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable cv_;
  int accepted_ = 0, closed_ = 0;
  std::vector<Got> got_;
  std::vector<std::thread> conns_;
};

// Replies "Status: 200" with the request's body echoed; keeps the connection.
inline bool echo(int fd, const Got& got, int, int) {
  send_all(fd, reply("Status: 200\r\nContent-Type: text/plain\r\n\r\n" + got.body));
  return true;
}

// Blocks until the server stops (bounded), having sent only `first` (if any).
inline bool stall(int fd, const std::string& first, int stop_fd) {
  send_all(fd, first);
  pollfd p{stop_fd, POLLIN, 0};
  ::poll(&p, 1, kBoundMs);
  return false;
}

}  // namespace tether::test_support
