// Tests PeerGate (src/cluster/peer_gate): a peer that hung up is abandoned
// (nothing runs, nothing is sent); a request is acked at once and goes on
// to the rules. (The peer channel authenticates the peer before the gate:
// tests/unit/cluster/peer_channel_test.cpp.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cluster/peer_gate.h"

namespace tether {
namespace {

struct FakeConnection final : fcgi::Connection {
  bool gone = false;
  bool abandoned = false;
  std::vector<std::string> notes;
  bool caller_gone() override { return gone; }
  void early_note(std::string_view text) override { notes.emplace_back(text); }
  void abandon() override { abandoned = true; }
};

class PeerGateTest : public ::testing::Test {
 protected:
  Request request() const {
    Request r;
    r.method = "GET";
    r.path = "/n/1";
    r.remote_addr = "127.0.0.1";
    return r;
  }
  ForwardStats stats_;
  PeerGate gate_{stats_, nullptr};
};

TEST_F(PeerGateTest, ARequestIsAckedAndGoesOnToTheRules) {
  Request req = request();
  FakeConnection conn;
  EXPECT_FALSE(gate_.admit(req, Forwarded{"h1-3", "lost"}, conn).has_value());
  EXPECT_EQ(conn.notes.size(), 1u);
  EXPECT_FALSE(conn.abandoned);
  EXPECT_EQ(stats_.in.load(), 1u);
}

TEST_F(PeerGateTest, APeerThatHungUpIsAbandonedUnrunAndUnacked) {
  Request req = request();
  FakeConnection conn;
  conn.gone = true;
  auto answer = gate_.admit(req, Forwarded{"h1-3", ""}, conn);
  ASSERT_TRUE(answer.has_value());  // not on to the rules
  EXPECT_TRUE(conn.abandoned);
  EXPECT_TRUE(conn.notes.empty());
  EXPECT_EQ(stats_.in.load(), 0u);
}

}  // namespace
}  // namespace tether
