// Tests session hand-over at the SessionHost level (src/session/host):
// snapshot on the old host, adopt on the new one, requests for a moved
// session sent on, sessions without the hooks left to be drained.
#include <gtest/gtest.h>
#include <sodium.h>

#include "session/host.h"

namespace tether {
namespace {

struct Ends {
  std::vector<EndReason> reasons;
  int starts = 0;
};

// A counter that can move (movable = true) or not.
class Counter final : public Session {
 public:
  Counter(Ends* ends, bool movable) : ends_(ends), movable_(movable) {}
  void on_start(StartReason) override { ends_->starts++; }
  Response handle(const Request&) override { return Response::text(std::to_string(++n_)); }
  void on_end(EndReason r) override { ends_->reasons.push_back(r); }
  std::optional<nlohmann::json> snapshot() const override {
    if (!movable_) return std::nullopt;
    return nlohmann::json{{"n", n_}};
  }
  bool restore(const nlohmann::json& s) override {
    if (!s.contains("n")) return false;
    n_ = s["n"].get<int>();
    return true;
  }

 private:
  Ends* ends_;
  bool movable_;
  int n_ = 0;
};

class HandoverTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }

  std::string serve(SessionHost& h, const SessionId& sid, bool existing, SessionJob* out = nullptr) {
    SessionJob j;
    j.request.path = "/";
    j.factory = &factory_;
    j.existing = existing;
    j.sid = sid;
    h.serve(j);
    if (out) {
      out->moved_to = j.moved_to;
      out->missing = j.missing;
      out->created_sid = j.created_sid;
    }
    return j.response.body;
  }

  ManualClock clock_;
  std::string route_a_ = "h1-0", route_b_ = "h1-1";
  SessionStats stats_a_, stats_b_;
  Ends ends_;
  bool movable_ = true;
  SessionFactory factory_ = [this] { return std::make_unique<Counter>(&ends_, movable_); };
  SessionHost a_{clock_, {}, &route_a_, 0, 1, &stats_a_};
  SessionHost b_{clock_, {}, &route_b_, 0, 1, &stats_b_};
};

TEST_F(HandoverTest, StateMovesAndRequestsFollowIt) {
  SessionId sid = a_.new_id();
  SessionJob first;
  serve(a_, sid, false, &first);
  sid = first.created_sid;
  EXPECT_EQ(serve(a_, sid, true), "2");
  size_t moved = a_.hand_over([&](const SessionId& id, const SessionFactory* f, const nlohmann::json& env) {
    EXPECT_EQ(id, sid);
    EXPECT_EQ(env["state"]["n"], 2);
    EXPECT_EQ(env["requests"], 2);
    EXPECT_TRUE(b_.adopt(id, f, env).is_ok());
    return std::string("unix:/b.sock");
  });
  EXPECT_EQ(moved, 1u);
  EXPECT_EQ(a_.size(), 0u);
  EXPECT_TRUE(ends_.reasons.empty()) << "a moved session does not end";
  EXPECT_EQ(stats_a_.moved_out.load(), 1u);
  EXPECT_EQ(stats_a_.live.load(), 0);
  EXPECT_EQ(stats_b_.moved_in.load(), 1u);
  // The old host sends its requests on; the new one carries on counting.
  SessionJob j;
  serve(a_, sid, true, &j);
  EXPECT_EQ(j.moved_to, "unix:/b.sock");
  EXPECT_EQ(serve(b_, sid, true), "3");
  EXPECT_EQ(ends_.starts, 1) << "restore() replaces on_start()";
}

TEST_F(HandoverTest, SessionsWithoutHooksStayAndEndDrained) {
  movable_ = false;
  SessionJob first;
  serve(a_, a_.new_id(), false, &first);
  size_t moved = a_.hand_over([](const SessionId&, const SessionFactory*, const nlohmann::json&) {
    ADD_FAILURE() << "offered a session without snapshot()";
    return std::string("x");
  });
  EXPECT_EQ(moved, 0u);
  a_.end_all(EndReason::Drained);
  EXPECT_EQ(ends_.reasons, std::vector<EndReason>{EndReason::Drained});
  EXPECT_EQ(stats_a_.ended_drained.load(), 1u);
  EXPECT_STREQ(to_string(EndReason::Drained), "drained");
}

TEST_F(HandoverTest, RefusedMoveKeepsTheSession) {
  SessionJob first;
  serve(a_, a_.new_id(), false, &first);
  size_t moved = a_.hand_over([](const SessionId&, const SessionFactory*, const nlohmann::json&) { return std::string(); });
  EXPECT_EQ(moved, 0u);
  EXPECT_EQ(serve(a_, first.created_sid, true), "2");
  // A state restore() refuses is an error; nothing is kept.
  EXPECT_FALSE(b_.adopt(SessionId::random(), &factory_, nlohmann::json{{"state", {{"other", 1}}}}).is_ok());
  EXPECT_EQ(b_.size(), 0u);
}

TEST_F(HandoverTest, MissingSessionIsReportedWhenAsked) {
  SessionJob j;
  j.request.path = "/";
  j.factory = &factory_;
  j.existing = true;
  j.sid = a_.new_id();
  j.create_if_missing = false;
  a_.serve(j);
  EXPECT_TRUE(j.missing);
  EXPECT_FALSE(j.created);
  EXPECT_EQ(a_.size(), 0u);
}

}  // namespace
}  // namespace tether
