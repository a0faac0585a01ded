// Tests PeerGate (src/cluster/peer_gate): a forged proof gets 403 and no
// ack; a peer that hung up is abandoned (nothing runs, nothing is sent); a
// verified request is acked at once and goes on to the rules with who sent it.
#include <gtest/gtest.h>
#include <sodium.h>

#include <map>
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
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    std::array<uint8_t, kTokenKeyBytes> key;
    randombytes_buf(key.data(), key.size());
    std::vector<TokenKey> keys;
    keys.emplace_back(key.data());
    auto c = TokenCodec::from_keys(std::move(keys));
    ASSERT_TRUE(c);
    codec_.emplace(std::move(c.value()));
    auth_.emplace(*codec_);
    gate_.emplace(*auth_, stats_, nullptr);
  }
  Request request() const {
    Request r;
    r.method = "GET";
    r.path = "/n/1";
    r.remote_addr = "127.0.0.1";
    return r;
  }
  std::map<std::string, std::string> signed_params(const Request& r, const std::string& reason) const {
    auto p = auth_->sign(r, "h1-3", reason);
    return std::map<std::string, std::string>(p.begin(), p.end());
  }

  std::optional<TokenCodec> codec_;
  std::optional<PeerAuth> auth_;
  ForwardStats stats_;
  std::optional<PeerGate> gate_;
};

TEST_F(PeerGateTest, AVerifiedRequestIsAckedAndGoesOnToTheRules) {
  Request req = request();
  auto side = signed_params(req, "lost");
  FakeConnection conn;
  Forwarded from;
  EXPECT_FALSE(gate_->admit(req, side, conn, &from).has_value());
  EXPECT_EQ(from.from, "h1-3");
  EXPECT_EQ(from.reason, "lost");
  EXPECT_EQ(conn.notes, std::vector<std::string>{kPeerAccepted});
  EXPECT_FALSE(conn.abandoned);
  EXPECT_EQ(stats_.in.load(), 1u);
}

TEST_F(PeerGateTest, AForgedProofGets403AndNoAck) {
  Request req = request();
  auto side = signed_params(req, "");
  req.path = "/n/2";  // the proof covered /n/1
  FakeConnection conn;
  Forwarded from;
  auto answer = gate_->admit(req, side, conn, &from);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 403);
  EXPECT_TRUE(conn.notes.empty());
  EXPECT_EQ(stats_.forged.load(), 1u);
  EXPECT_EQ(stats_.in.load(), 0u);
}

TEST_F(PeerGateTest, APeerThatHungUpIsAbandonedUnrunAndUnacked) {
  Request req = request();
  auto side = signed_params(req, "");
  FakeConnection conn;
  conn.gone = true;
  Forwarded from;
  auto answer = gate_->admit(req, side, conn, &from);
  ASSERT_TRUE(answer.has_value());  // not on to the rules
  EXPECT_TRUE(conn.abandoned);
  EXPECT_TRUE(conn.notes.empty());
  EXPECT_EQ(stats_.in.load(), 0u);
}

}  // namespace
}  // namespace tether
