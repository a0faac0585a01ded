// Tests the peer channel (src/cluster/peer_crypto, peer_wire, peer_client,
// peer_server): a real PeerServer on a unix socket, called by a PeerClient
// and by hand. Every refusal of issue 17 has a case: garbage and libfcgi's
// overflow record, a hello under an unknown key, for another worker, too
// old, replayed; a request message replayed on a new connection or
// altered; and the keys of a rotation in progress.
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <memory>

#include "cluster/peer_client.h"
#include "cluster/peer_server.h"
#include "common/clock.h"
#include "common/firewall.h"
#include "fcgi/listener.h"

namespace tether {
namespace {

TokenKey random_key() {
  uint8_t b[kTokenKeyBytes];
  randombytes_buf(b, sizeof b);
  return TokenKey(b);
}

TokenCodec codec_of(std::vector<TokenKey> keys) {
  auto c = TokenCodec::from_keys(std::move(keys));
  if (!c) throw std::runtime_error(c.message());
  return std::move(c.value());
}

TEST(PeerCrypto, HelloOpensOnlyUnaltered) {
  ASSERT_GE(sodium_init(), 0);
  auto keys = KeySet::make({random_key()});
  ASSERT_TRUE(keys);
  peer::Nonce nc, nc2;
  std::string wire = peer::Handshake::hello(*keys.value(), {"h1-0", "unix:/x", 42}, &nc);
  uint8_t kid = 0;
  auto h = peer::Handshake::open_hello(*keys.value(), wire, &kid, &nc2);
  ASSERT_TRUE(h) << h.message();
  EXPECT_EQ(h->from, "h1-0");
  EXPECT_EQ(h->to, "unix:/x");
  EXPECT_EQ(h->time_ms, 42);
  EXPECT_EQ(nc, nc2);
  for (size_t i = 0; i < wire.size(); ++i) {
    std::string bad = wire;
    bad[i] ^= 1;
    EXPECT_FALSE(peer::Handshake::open_hello(*keys.value(), bad, &kid, &nc2)) << "byte " << i;
  }
  auto other = KeySet::make({random_key()});
  EXPECT_FALSE(peer::Handshake::open_hello(*other.value(), wire, &kid, &nc2));
}

TEST(PeerCrypto, MessagesOpenOnceInOrderAndOnlyInTheirDirection) {
  TokenKey key = random_key();
  peer::Nonce nc{}, ns{};
  randombytes_buf(nc.data(), nc.size());
  randombytes_buf(ns.data(), ns.size());
  peer::Hello h{"h1-0", "unix:/x", 1};
  auto client = peer::Handshake::keys(key, nc, ns, h, true);
  auto server = peer::Handshake::keys(key, nc, ns, h, false);
  std::string m1 = client.send.seal("one"), m2 = client.send.seal("two"), plain;
  EXPECT_FALSE(server.recv.open(m2, &plain)) << "out of order";
  ASSERT_TRUE(server.recv.open(m1, &plain));
  EXPECT_EQ(plain, "one");
  EXPECT_FALSE(server.recv.open(m1, &plain)) << "replayed";
  ASSERT_TRUE(server.recv.open(m2, &plain));
  EXPECT_EQ(plain, "two");
  std::string back = server.send.seal("reply");
  EXPECT_FALSE(server.recv.open(back, &plain)) << "its own direction";
  ASSERT_TRUE(client.recv.open(back, &plain));
  // Another connection (another server nonce) cannot open this one's messages.
  peer::Nonce ns2 = ns;
  ns2[0] ^= 1;
  auto other = peer::Handshake::keys(key, nc, ns2, h, false);
  EXPECT_FALSE(other.recv.open(client.send.seal("three"), &plain));
}

TEST(PeerCrypto, HelloGuardRefusesANonceSeenWithinTheWindow) {
  peer::HelloGuard guard(4);
  peer::Nonce a{}, b{};
  b[0] = 1;
  EXPECT_TRUE(guard.first_time(a, 1000));
  EXPECT_FALSE(guard.first_time(a, 2000));
  EXPECT_TRUE(guard.first_time(b, 2000));
  EXPECT_TRUE(guard.first_time(a, 1000 + 2 * peer::kHelloWindowMs + 1)) << "forgotten after the window";
}

class PeerServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    char tmpl[] = "/tmp/tether_peer_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    addr_ = "unix:" + dir_ + "/p.sock";
  }
  void TearDown() override {
    if (server_) server_->stop();
    std::filesystem::remove_all(dir_);
  }
  void start(std::vector<TokenKey> keys) {
    server_codec_.emplace(codec_of(std::move(keys)));
    auto fd = fcgi::open_listener(addr_, 64);
    ASSERT_TRUE(fd) << fd.message();
    listen_fd_ = unique_fd(*fd);
    PeerServerOptions o;
    o.route = "h1-1";
    o.addresses = {addr_};
    o.max_body_bytes = 1 << 16;
    server_ = std::make_unique<PeerServer>(
        listen_fd_.get(), *server_codec_, o,
        [this](Request& req, const Forwarded& from, fcgi::Connection& conn) {
          ran_++;
          conn.early_note("accepted");
          return Response::text(from.from + " " + from.reason + " " + req.method + " " + req.path + "?" + req.query +
                                " " + req.remote_addr + " " + std::string(req.cookie("c")) + " " + req.body);
        },
        stats_);
    ASSERT_TRUE(server_->start());
  }
  CallResult call(PeerClient& client, const std::string& reason = "lost") {
    Request req;
    req.method = "POST";
    req.path = "/n/1";
    req.query = "a=b";
    req.remote_addr = "192.0.2.7";
    req.headers["cookie"] = "c=v";
    req.body = "body";
    return client.call(addr_, peer::request_params(req, reason), req.body, 2000, 5000);
  }
  // A raw connection to the server.
  unique_fd connect_raw() { return net::connect_stream(addr_, net::Clock::now() + std::chrono::seconds(2)); }
  // Waits for the connection to be closed by the server (a reset, when it
  // left bytes unread); true if it was, false if anything else came.
  static bool closed_by_server(int fd) {
    std::string frame;
    auto deadline = net::Clock::now() + std::chrono::seconds(5);
    auto st = peer::read_frame(fd, &frame, 1 << 20, deadline, deadline);
    return st == peer::FrameStatus::Closed || st == peer::FrameStatus::Broken;
  }

  std::string dir_, addr_;
  std::optional<TokenCodec> server_codec_;
  unique_fd listen_fd_;
  PeerServerStats stats_;
  std::unique_ptr<PeerServer> server_;
  std::atomic<int> ran_{0};
};

TEST_F(PeerServerTest, ACallCarriesParamsBodyCallerAndReasonAndKeepsItsConnection) {
  TokenKey key = random_key();
  start({key});
  TokenCodec client_codec = codec_of({key});
  PeerClient client(client_codec, "h1-0");
  for (int i = 0; i < 3; ++i) {
    auto r = call(client);
    ASSERT_EQ(r.kind, CallResult::Kind::Ok) << r.error;
    EXPECT_EQ(r.response.status, 200);
    EXPECT_EQ(r.response.body, "h1-0 lost POST /n/1?a=b 192.0.2.7 v body");
  }
  EXPECT_EQ(stats_.connections.load(), 1u) << "one handshake, the connection kept";
  EXPECT_EQ(stats_.requests.load(), 3u);
}

TEST_F(PeerServerTest, GarbageAndLibfcgisOverflowRecordAreRefusedAndTheServerGoesOn) {
  TokenKey key = random_key();
  start({key});
  uint64_t before = firewall::refused_count("peer.bad_hello");
  // FCGI_GET_VALUES with eight names: overflows libfcgi's stack buffer.
  std::string names;
  for (int i = 0; i < 8; ++i) names += std::string("\x0f\x00", 2) + "FCGI_MPXS_CONNS";
  std::string record = std::string("\x01\x09\x00\x00", 4) + char(names.size() >> 8) + char(names.size() & 0xff) +
                       std::string("\x00\x00", 2) + names;
  for (const std::string& junk : {record, std::string("GET / HTTP/1.1\r\n\r\n"), std::string(4, '\xff')}) {
    unique_fd fd = connect_raw();
    ASSERT_TRUE(fd);
    ASSERT_TRUE(net::write_all(fd.get(), junk, net::Clock::now() + std::chrono::seconds(2)));
    EXPECT_TRUE(closed_by_server(fd.get()));
  }
  EXPECT_EQ(firewall::refused_count("peer.bad_hello"), before + 3);
  EXPECT_EQ(ran_.load(), 0);
  TokenCodec client_codec = codec_of({key});
  PeerClient client(client_codec, "h1-0");
  EXPECT_EQ(call(client).kind, CallResult::Kind::Ok);
}

TEST_F(PeerServerTest, AnotherClusterKeyIsRefusedBeforeAnyAppCode) {
  start({random_key()});
  uint64_t before = firewall::refused_count("peer.bad_hello");
  TokenCodec stranger = codec_of({random_key()});
  PeerClient client(stranger, "h1-0");
  auto r = call(client);
  EXPECT_EQ(r.kind, CallResult::Kind::NoAnswer) << r.error;
  EXPECT_EQ(firewall::refused_count("peer.bad_hello"), before + 1);
  EXPECT_EQ(ran_.load(), 0);
}

TEST_F(PeerServerTest, AHelloForAnotherWorkerOrOutsideTheWindowOrReplayedIsRefused) {
  TokenKey key = random_key();
  start({key});
  auto keys = KeySet::make({key});
  auto send_hello = [&](const peer::Hello& h, std::string* wire) {
    peer::Nonce nc;
    if (wire->empty()) *wire = peer::Handshake::hello(*keys.value(), h, &nc);
    unique_fd fd = connect_raw();
    EXPECT_TRUE(peer::write_frame(fd.get(), *wire, net::Clock::now() + std::chrono::seconds(2)));
    return closed_by_server(fd.get());
  };
  uint64_t wrong = firewall::refused_count("peer.wrong_destination");
  uint64_t stale = firewall::refused_count("peer.stale_hello");
  uint64_t replayed = firewall::refused_count("peer.replayed_hello");
  std::string w1, w2, w3;
  EXPECT_TRUE(send_hello({"h1-0", "unix:/elsewhere.sock", unix_millis()}, &w1));
  EXPECT_TRUE(send_hello({"h1-0", addr_, unix_millis() - peer::kHelloWindowMs - 5000}, &w2));
  EXPECT_FALSE(send_hello({"h1-0", addr_, unix_millis()}, &w3)) << "a good hello gets a welcome";
  EXPECT_TRUE(send_hello({}, &w3)) << "the same hello again is a replay";
  EXPECT_EQ(firewall::refused_count("peer.wrong_destination"), wrong + 1);
  EXPECT_EQ(firewall::refused_count("peer.stale_hello"), stale + 1);
  EXPECT_EQ(firewall::refused_count("peer.replayed_hello"), replayed + 1);
  EXPECT_EQ(ran_.load(), 0);
}

// Shakes hands by hand; returns the connection and its keys.
struct RawConn {
  unique_fd fd;
  peer::ConnectionKeys keys;
};
RawConn handshake(const std::string& addr, const TokenKey& key) {
  auto set = KeySet::make({key});
  peer::Hello h{"h1-0", addr, unix_millis()};
  peer::Nonce nc, ns;
  RawConn c;
  auto deadline = net::Clock::now() + std::chrono::seconds(2);
  c.fd = net::connect_stream(addr, deadline);
  EXPECT_TRUE(peer::write_frame(c.fd.get(), peer::Handshake::hello(*set.value(), h, &nc), deadline));
  std::string welcome;
  EXPECT_EQ(peer::read_frame(c.fd.get(), &welcome, 1024, deadline, deadline), peer::FrameStatus::Ok);
  EXPECT_TRUE(peer::Handshake::open_welcome(key, nc, addr, welcome, &ns));
  c.keys = peer::Handshake::keys(key, nc, ns, h, true);
  return c;
}

TEST_F(PeerServerTest, ARequestReplayedOnANewConnectionOrAlteredIsRefusedUnrun) {
  TokenKey key = random_key();
  start({key});
  auto deadline = net::Clock::now() + std::chrono::seconds(5);
  RawConn first = handshake(addr_, key);
  std::string captured = first.keys.send.seal(peer::encode_request({{"REQUEST_URI", "/n/1"}}, "x"));
  ASSERT_TRUE(peer::write_frame(first.fd.get(), captured, deadline));
  std::string frame, plain;
  ASSERT_EQ(peer::read_frame(first.fd.get(), &frame, 1 << 20, deadline, deadline), peer::FrameStatus::Ok);
  ASSERT_TRUE(first.keys.recv.open(frame, &plain));
  EXPECT_EQ(plain, std::string(1, peer::kAck));
  ASSERT_EQ(peer::read_frame(first.fd.get(), &frame, 1 << 20, deadline, deadline), peer::FrameStatus::Ok);
  EXPECT_EQ(ran_.load(), 1);

  uint64_t bad = firewall::refused_count("peer.bad_message");
  RawConn second = handshake(addr_, key);
  ASSERT_TRUE(peer::write_frame(second.fd.get(), captured, deadline));
  EXPECT_TRUE(closed_by_server(second.fd.get()));
  RawConn third = handshake(addr_, key);
  std::string altered = third.keys.send.seal(peer::encode_request({{"REQUEST_URI", "/n/1"}}, "x"));
  altered[altered.size() / 2] ^= 1;
  ASSERT_TRUE(peer::write_frame(third.fd.get(), altered, deadline));
  EXPECT_TRUE(closed_by_server(third.fd.get()));
  EXPECT_EQ(firewall::refused_count("peer.bad_message"), bad + 2);
  EXPECT_EQ(ran_.load(), 1) << "nothing ran again";
}

TEST_F(PeerServerTest, RotationStepsKeepCallsWorkingAndADroppedKeyEndsItsConnections) {
  TokenKey old_key = random_key();
  uint8_t raw[kTokenKeyBytes];
  do randombytes_buf(raw, sizeof raw);
  while (TokenKey(raw).id() == old_key.id());
  TokenKey new_key(raw);
  // Step 1 on the server: the new key verify-only. A client already at step 2
  // seals with the new key.
  start({old_key, TokenKey(raw, true)});
  TokenCodec ahead = codec_of({new_key, TokenKey(old_key)});
  PeerClient client(ahead, "h1-0");
  ASSERT_EQ(call(client).kind, CallResult::Kind::Ok);
  // Step 3 on the server: only the new key. The kept connection (new key) goes on.
  server_codec_->replace(KeySet::make({new_key}).value());
  ASSERT_EQ(call(client).kind, CallResult::Kind::Ok);
  // A client still sealing with the old key is refused now.
  TokenCodec behind = codec_of({old_key});
  PeerClient late(behind, "h1-0");
  EXPECT_EQ(call(late).kind, CallResult::Kind::NoAnswer);
  // The server drops the new key (back to old): the kept connection under it is closed, not served.
  uint64_t dropped = firewall::refused_count("peer.key_dropped");
  server_codec_->replace(KeySet::make({old_key}).value());
  auto r = call(client);
  EXPECT_NE(r.kind, CallResult::Kind::Ok);
  EXPECT_EQ(firewall::refused_count("peer.key_dropped"), dropped + 1);
}

}  // namespace
}  // namespace tether
