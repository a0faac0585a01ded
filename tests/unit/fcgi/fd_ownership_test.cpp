// Tests that the fcgi side closes every descriptor it opens, on every path
// (src/common/unique_fd.h at work): a refused listener, a peer that does not
// answer, a full connection pool, forget() and the client's destructor.
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "support/open_fds.h"
#include "common/unique_fd.h"
#include "fcgi/client.h"
#include "fcgi/listener.h"
#include "support/fake_fcgi_peer.h"

namespace tether {
namespace {

using Kind = fcgi::ClientResult::Kind;
using test_support::FakePeer;

using test_support::open_fds;

TEST(FdOwnership, ARefusedUnixListenerLeavesNoDescriptor) {
  FakePeer live(test_support::echo);  // someone listening on its socket
  ASSERT_TRUE(live.ok());
  const int before = open_fds();
  for (int i = 0; i < 20; ++i) {
    auto fd = fcgi::open_listener(live.addr());
    ASSERT_FALSE(fd) << "a live socket must not be taken over";
    EXPECT_NE(fd.message().find("another process is listening"), std::string::npos) << fd.message();
  }
  // The live peer (in this process) took each probe connection: wait until
  // it saw every probe close, so that only a leak can differ.
  ASSERT_TRUE(live.wait_closed(20));
  EXPECT_EQ(open_fds(), before);
}

TEST(FdOwnership, ARefusedTcpListenerLeavesNoDescriptor) {
  unique_fd taken(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(taken);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::bind(taken.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(taken.get(), 1), 0);
  ASSERT_EQ(::getsockname(taken.get(), reinterpret_cast<sockaddr*>(&sa), &len), 0);
  const std::string addr = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
  const int before = open_fds();
  for (int i = 0; i < 20; ++i) {
    auto fd = fcgi::open_listener(addr);
    ASSERT_FALSE(fd) << "the port is in use";
    EXPECT_NE(fd.message().find("listen " + addr), std::string::npos) << fd.message();
  }
  EXPECT_EQ(open_fds(), before);
}

TEST(FdOwnership, AnOpenedListenerIsHandedOverOpen) {
  FakePeer dir_owner(test_support::echo);  // only for its temporary directory
  ASSERT_TRUE(dir_owner.ok());
  auto fd = fcgi::open_listener("unix:" + dir_owner.dir() + "/mine.sock");
  ASSERT_TRUE(fd) << fd.message();
  unique_fd owned(*fd);
  int type = 0;
  socklen_t len = sizeof type;
  EXPECT_EQ(::getsockopt(owned.get(), SOL_SOCKET, SO_TYPE, &type, &len), 0) << "release() must not close it";
  EXPECT_EQ(type, SOCK_STREAM);
}

TEST(FdOwnership, CallsThatGetNoAnswerCloseTheirConnections) {
  FakePeer silent([](int fd, const test_support::Got&, int, int stop_fd) {
    return test_support::stall(fd, "", stop_fd);
  });
  ASSERT_TRUE(silent.ok());
  fcgi::Client client;
  const int before = open_fds();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client.call(silent.addr(), {}, "x", 50, 1000).kind, Kind::NoAnswer);
  // The stalled peer (in this process) holds its end of each connection:
  // wait (bounded) until it has taken all five, then only those may be open.
  for (int i = 0; i < 500 && silent.accepted() < 5; ++i) ::usleep(10000);
  ASSERT_EQ(silent.accepted(), 5);
  EXPECT_EQ(open_fds(), before + 5) << "the client kept a connection it gave up on";
}

TEST(FdOwnership, AnUnreachablePeerLeavesNoDescriptorAndNamesTheError) {
  FakePeer dir_owner(test_support::echo);
  ASSERT_TRUE(dir_owner.ok());
  fcgi::Client client;
  const int before = open_fds();
  auto r = client.call("unix:" + dir_owner.dir() + "/nobody.sock", {}, "", 200, 1000);
  EXPECT_EQ(r.kind, Kind::Unreachable);
  // connect's errno, not one from closing the socket after it
  EXPECT_NE(r.error.find("No such file or directory"), std::string::npos) << r.error;
  EXPECT_EQ(open_fds(), before);
}

TEST(FdOwnership, AFullPoolClosesTheConnectionGivenBack) {
  FakePeer peer(test_support::echo);
  ASSERT_TRUE(peer.ok());
  fcgi::Client client(0);  // no idle connection is kept
  ASSERT_EQ(client.call(peer.addr(), {}, "1", 2000, 5000).kind, Kind::Ok);
  ASSERT_TRUE(peer.wait_closed(1)) << "the client closed it after the reply";
  ASSERT_EQ(client.call(peer.addr(), {}, "2", 2000, 5000).kind, Kind::Ok);
  EXPECT_EQ(peer.accepted(), 2);
}

TEST(FdOwnership, TheClientsDestructorClosesItsPooledConnections) {
  FakePeer peer(test_support::echo);
  ASSERT_TRUE(peer.ok());
  const int before = open_fds();
  {
    fcgi::Client client;
    ASSERT_EQ(client.call(peer.addr(), {}, "1", 2000, 5000).kind, Kind::Ok);
  }
  EXPECT_TRUE(peer.wait_closed(1)) << "the pooled connection went with the client";
  // The peer's side of it is closed by the peer's thread once it saw EOF.
  EXPECT_EQ(open_fds(), before);
}

}  // namespace
}  // namespace tether
