// Tests PeerClient (src/fcgi/client) against a small FastCGI server on a unix socket, written here.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
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

namespace tether {
namespace {

using fcgi::CallResult;
using Kind = CallResult::Kind;

constexpr int kBoundMs = 10000;  // no wait in this file lasts longer

// One request as the server received it.
struct Got {
  fcgi::Params params;
  std::string body;
  bool keep_conn = false;
  int params_records = 0;  // non-empty PARAMS records
  int stdin_records = 0;   // non-empty STDIN records
};

fcgi::Params decode_pairs(const std::string& s) {
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

void send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// STDERR ack, stdout as a stream, then END_REQUEST.
std::string reply(const std::string& stdout_data) {
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
bool echo(int fd, const Got& got, int, int) {
  send_all(fd, reply("Status: 200\r\nContent-Type: text/plain\r\n\r\n" + got.body));
  return true;
}

// Blocks until the server stops (bounded), having sent only `first` (if any).
bool stall(int fd, const std::string& first, int stop_fd) {
  send_all(fd, first);
  pollfd p{stop_fd, POLLIN, 0};
  ::poll(&p, 1, kBoundMs);
  return false;
}

std::string big(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 13 + i / 509);
  return s;
}

TEST(PeerClientTest, LongParamsArriveIntact) {
  FakePeer peer(echo);
  ASSERT_TRUE(peer.ok());
  fcgi::Params params = {{"REQUEST_METHOD", "GET"},
                         {std::string(127, 'a'), std::string(128, 'b')},
                         {std::string(200, 'N'), std::string(300, 'v')},
                         {"EMPTY", ""},
                         {"HTTP_X_BIG", big(100000, 'q')}};
  fcgi::PeerClient client;
  auto r = client.call(peer.addr(), params, "", 2000, 5000);
  ASSERT_EQ(r.kind, Kind::Ok) << r.error;
  auto got = peer.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].params, params);
  EXPECT_GE(got[0].params_records, 2);  // 100,000 bytes do not fit one record
  EXPECT_TRUE(got[0].keep_conn);
  EXPECT_TRUE(got[0].body.empty());
}

TEST(PeerClientTest, LargeBodyArrivesIntact) {
  FakePeer peer(echo);
  ASSERT_TRUE(peer.ok());
  std::string body = big(200000, 'b');
  fcgi::PeerClient client;
  auto r = client.call(peer.addr(), {{"REQUEST_METHOD", "POST"}}, body, 2000, 5000);
  ASSERT_EQ(r.kind, Kind::Ok) << r.error;
  auto got = peer.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body.size(), body.size());
  EXPECT_TRUE(got[0].body == body);
  EXPECT_GE(got[0].stdin_records, 4);
  EXPECT_TRUE(r.response.body == body);  // and back again
}

TEST(PeerClientTest, ReassemblesStdoutAcrossRecordsAndLeavesStderrOut) {
  const std::string body = big(150000, 'r');
  FakePeer peer([&](int fd, const Got&, int, int) {
    std::string stdout_data = "Status: 201 Created\r\nX-A: 1\r\nContent-Length: 99\r\nX-B: 2\r\n\r\n" + body;
    std::string w;
    fcgi::append_record(w, fcgi::kStderr, 1, "ack");
    for (size_t off = 0; off < stdout_data.size(); off += 40000) {
      fcgi::append_record(w, fcgi::kStdout, 1, std::string_view(stdout_data).substr(off, 40000));
      fcgi::append_record(w, fcgi::kStderr, 1, "STDERR-NOISE");
      fcgi::append_record(w, fcgi::kStdout, 2, "OTHER-REQUEST");
    }
    fcgi::append_record(w, fcgi::kStdout, 1, "");
    fcgi::append_record(w, fcgi::kEndRequest, 1, std::string(8, '\0'));
    for (size_t off = 0; off < w.size(); off += 7001) send_all(fd, w.substr(off, 7001));  // odd-sized writes
    return true;
  });
  ASSERT_TRUE(peer.ok());
  fcgi::PeerClient client;
  auto r = client.call(peer.addr(), {}, "", 2000, 5000);
  ASSERT_EQ(r.kind, Kind::Ok) << r.error;
  EXPECT_EQ(r.response.status, 201);
  ASSERT_EQ(r.response.headers.size(), 2u);
  EXPECT_EQ(r.response.headers[0].first, "X-A");
  EXPECT_EQ(r.response.headers[1].first, "X-B");
  EXPECT_EQ(r.response.body.size(), body.size());
  EXPECT_TRUE(r.response.body == body);
  EXPECT_EQ(r.response.body.find("STDERR-NOISE"), std::string::npos);
  EXPECT_EQ(r.response.body.find("OTHER-REQUEST"), std::string::npos);
}

TEST(PeerClientTest, SequentialCallsReuseOneConnection) {
  FakePeer peer(echo);
  ASSERT_TRUE(peer.ok());
  fcgi::PeerClient client;
  auto a = client.call(peer.addr(), {}, "first", 2000, 5000);
  auto b = client.call(peer.addr(), {}, "second", 2000, 5000);
  ASSERT_EQ(a.kind, Kind::Ok) << a.error;
  ASSERT_EQ(b.kind, Kind::Ok) << b.error;
  EXPECT_EQ(a.response.body, "first");
  EXPECT_EQ(b.response.body, "second");
  EXPECT_EQ(peer.accepted(), 1);
  EXPECT_EQ(peer.requests().size(), 2u);
}

TEST(PeerClientTest, ForgetDropsThePooledConnection) {
  FakePeer peer(echo);
  ASSERT_TRUE(peer.ok());
  fcgi::PeerClient client;
  ASSERT_EQ(client.call(peer.addr(), {}, "1", 2000, 5000).kind, Kind::Ok);
  client.forget(peer.addr());
  ASSERT_TRUE(peer.wait_closed(1));  // the server saw the client close it
  ASSERT_EQ(client.call(peer.addr(), {}, "2", 2000, 5000).kind, Kind::Ok);
  EXPECT_EQ(peer.accepted(), 2);
}

TEST(PeerClientTest, SilentPeerIsNoAnswer) {
  FakePeer peer([](int fd, const Got&, int, int stop_fd) { return stall(fd, "", stop_fd); });
  ASSERT_TRUE(peer.ok());
  fcgi::PeerClient client;
  auto r = client.call(peer.addr(), {{"A", "1"}}, "body", 200, 5000);
  EXPECT_EQ(r.kind, Kind::NoAnswer) << r.error;
  EXPECT_FALSE(r.error.empty());
}

TEST(PeerClientTest, NothingListeningIsUnreachable) {
  char tmpl[] = "/tmp/tether-peer-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  fcgi::PeerClient client;
  auto r = client.call("unix:" + dir + "/nobody.sock", {}, "", 200, 1000);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(r.kind, Kind::Unreachable);
  EXPECT_NE(r.error.find("nobody.sock"), std::string::npos) << r.error;

  int s = ::socket(AF_INET, SOCK_STREAM, 0);  // a loopback port nobody listens on
  ASSERT_GE(s, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::getsockname(s, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  ::close(s);
  auto t = client.call("127.0.0.1:" + std::to_string(ntohs(sa.sin_port)), {}, "", 200, 1000);
  EXPECT_EQ(t.kind, Kind::Unreachable) << t.error;
}

TEST(PeerClientTest, AckThenSilenceFailsAfterTheTotalTimeout) {
  std::string ack;
  fcgi::append_record(ack, fcgi::kStderr, 1, "ack");
  FakePeer peer([&](int fd, const Got&, int, int stop_fd) { return stall(fd, ack, stop_fd); });
  ASSERT_TRUE(peer.ok());
  fcgi::PeerClient client;
  auto r = client.call(peer.addr(), {}, "", 200, 400);
  EXPECT_EQ(r.kind, Kind::Failed) << r.error;  // not NoAnswer: the ack met the quick timeout
}

TEST(PeerClientTest, PeerClosingMidReplyFails) {
  FakePeer peer([](int fd, const Got&, int, int) {
    std::string w;
    fcgi::append_record(w, fcgi::kStderr, 1, "ack");
    fcgi::append_record(w, fcgi::kStdout, 1, "Status: 200\r\nContent-Type: te");
    send_all(fd, w);
    return false;  // close before the end
  });
  ASSERT_TRUE(peer.ok());
  fcgi::PeerClient client;
  auto r = client.call(peer.addr(), {}, "", 2000, 5000);
  EXPECT_EQ(r.kind, Kind::Failed) << r.error;
  EXPECT_TRUE(r.response.body.empty());
}

TEST(PeerClientTest, MalformedReplyFails) {
  FakePeer peer([](int fd, const Got&, int, int) {
    send_all(fd, reply("no header end here"));
    return true;
  });
  ASSERT_TRUE(peer.ok());
  fcgi::PeerClient client;
  auto r = client.call(peer.addr(), {}, "", 2000, 5000);
  EXPECT_EQ(r.kind, Kind::Failed);
  EXPECT_NE(r.error.find("malformed"), std::string::npos) << r.error;
}

TEST(PeerClientTest, StalePooledConnectionIsReplacedByANewOne) {
  FakePeer peer([](int fd, const Got& got, int n, int) {
    send_all(fd, reply("Status: 200\r\n\r\n" + got.body));
    return n != 0;  // the first connection is closed once idle
  });
  ASSERT_TRUE(peer.ok());
  fcgi::PeerClient client;
  auto a = client.call(peer.addr(), {}, "one", 2000, 5000);
  ASSERT_EQ(a.kind, Kind::Ok) << a.error;
  ASSERT_TRUE(peer.wait_closed(1));  // the pooled connection is now stale
  auto b = client.call(peer.addr(), {}, "two", 2000, 5000);
  ASSERT_EQ(b.kind, Kind::Ok) << b.error;
  EXPECT_EQ(b.response.body, "two");
  EXPECT_EQ(peer.accepted(), 2);
}

}  // namespace
}  // namespace tether
