// Tests Client (src/fcgi/client) against a small FastCGI server on a unix socket (support/fake_fcgi_peer.h).
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
#include "support/fake_fcgi_peer.h"

namespace tether {
namespace {

using fcgi::ClientResult;
using Kind = ClientResult::Kind;

using test_support::echo;
using test_support::FakePeer;
using test_support::Got;
using test_support::reply;
using test_support::send_all;
using test_support::stall;

std::string big(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 13 + i / 509);
  return s;
}

TEST(ClientTest, LongParamsArriveIntact) {
  FakePeer peer(echo);
  ASSERT_TRUE(peer.ok());
  fcgi::Params params = {{"REQUEST_METHOD", "GET"},
                         {std::string(127, 'a'), std::string(128, 'b')},
                         {std::string(200, 'N'), std::string(300, 'v')},
                         {"EMPTY", ""},
                         {"HTTP_X_BIG", big(100000, 'q')}};
  fcgi::Client client;
  auto r = client.call(peer.addr(), params, "", 2000, 5000);
  ASSERT_EQ(r.kind, Kind::Ok) << r.error;
  auto got = peer.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].params, params);
  EXPECT_GE(got[0].params_records, 2);  // 100,000 bytes do not fit one record
  EXPECT_TRUE(got[0].keep_conn);
  EXPECT_TRUE(got[0].body.empty());
}

TEST(ClientTest, LargeBodyArrivesIntact) {
  FakePeer peer(echo);
  ASSERT_TRUE(peer.ok());
  std::string body = big(200000, 'b');
  fcgi::Client client;
  auto r = client.call(peer.addr(), {{"REQUEST_METHOD", "POST"}}, body, 2000, 5000);
  ASSERT_EQ(r.kind, Kind::Ok) << r.error;
  auto got = peer.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body.size(), body.size());
  EXPECT_TRUE(got[0].body == body);
  EXPECT_GE(got[0].stdin_records, 4);
  EXPECT_TRUE(r.response.body == body);  // and back again
}

TEST(ClientTest, ReassemblesStdoutAcrossRecordsAndLeavesStderrOut) {
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
  fcgi::Client client;
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

TEST(ClientTest, SequentialCallsReuseOneConnection) {
  FakePeer peer(echo);
  ASSERT_TRUE(peer.ok());
  fcgi::Client client;
  auto a = client.call(peer.addr(), {}, "first", 2000, 5000);
  auto b = client.call(peer.addr(), {}, "second", 2000, 5000);
  ASSERT_EQ(a.kind, Kind::Ok) << a.error;
  ASSERT_EQ(b.kind, Kind::Ok) << b.error;
  EXPECT_EQ(a.response.body, "first");
  EXPECT_EQ(b.response.body, "second");
  EXPECT_EQ(peer.accepted(), 1);
  EXPECT_EQ(peer.requests().size(), 2u);
}

TEST(ClientTest, ForgetDropsThePooledConnection) {
  FakePeer peer(echo);
  ASSERT_TRUE(peer.ok());
  fcgi::Client client;
  ASSERT_EQ(client.call(peer.addr(), {}, "1", 2000, 5000).kind, Kind::Ok);
  client.forget(peer.addr());
  ASSERT_TRUE(peer.wait_closed(1));  // the server saw the client close it
  ASSERT_EQ(client.call(peer.addr(), {}, "2", 2000, 5000).kind, Kind::Ok);
  EXPECT_EQ(peer.accepted(), 2);
}

TEST(ClientTest, SilentPeerIsNoAnswer) {
  FakePeer peer([](int fd, const Got&, int, int stop_fd) { return stall(fd, "", stop_fd); });
  ASSERT_TRUE(peer.ok());
  fcgi::Client client;
  auto r = client.call(peer.addr(), {{"A", "1"}}, "body", 200, 5000);
  EXPECT_EQ(r.kind, Kind::NoAnswer) << r.error;
  EXPECT_FALSE(r.error.empty());
}

TEST(ClientTest, NothingListeningIsUnreachable) {
  char tmpl[] = "/tmp/tether-peer-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  fcgi::Client client;
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

TEST(ClientTest, AckThenSilenceFailsAfterTheTotalTimeout) {
  std::string ack;
  fcgi::append_record(ack, fcgi::kStderr, 1, "ack");
  FakePeer peer([&](int fd, const Got&, int, int stop_fd) { return stall(fd, ack, stop_fd); });
  ASSERT_TRUE(peer.ok());
  fcgi::Client client;
  auto r = client.call(peer.addr(), {}, "", 200, 400);
  EXPECT_EQ(r.kind, Kind::Failed) << r.error;  // not NoAnswer: the ack met the quick timeout
}

TEST(ClientTest, PeerClosingMidReplyFails) {
  FakePeer peer([](int fd, const Got&, int, int) {
    std::string w;
    fcgi::append_record(w, fcgi::kStderr, 1, "ack");
    fcgi::append_record(w, fcgi::kStdout, 1, "Status: 200\r\nContent-Type: te");
    send_all(fd, w);
    return false;  // close before the end
  });
  ASSERT_TRUE(peer.ok());
  fcgi::Client client;
  auto r = client.call(peer.addr(), {}, "", 2000, 5000);
  EXPECT_EQ(r.kind, Kind::Failed) << r.error;
  EXPECT_TRUE(r.response.body.empty());
}

TEST(ClientTest, MalformedReplyFails) {
  FakePeer peer([](int fd, const Got&, int, int) {
    send_all(fd, reply("no header end here"));
    return true;
  });
  ASSERT_TRUE(peer.ok());
  fcgi::Client client;
  auto r = client.call(peer.addr(), {}, "", 2000, 5000);
  EXPECT_EQ(r.kind, Kind::Failed);
  EXPECT_NE(r.error.find("malformed"), std::string::npos) << r.error;
}

TEST(ClientTest, StalePooledConnectionIsReplacedByANewOne) {
  FakePeer peer([](int fd, const Got& got, int n, int) {
    send_all(fd, reply("Status: 200\r\n\r\n" + got.body));
    return n != 0;  // the first connection is closed once idle
  });
  ASSERT_TRUE(peer.ok());
  fcgi::Client client;
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
