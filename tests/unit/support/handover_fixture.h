// A receiving worker ("hostB-2") against a real redis-server, for the
// ownership tests (issue 16): its registry, forwarder, session
// pool with one thread, and hand-over, and an app "kit" (Moving) that
// counts its lifecycle calls. Used by handover_bounds_test and
// session_epoch_test.
#pragma once
#include <gtest/gtest.h>
#include <sodium.h>

#include <map>
#include <memory>

#include "common/clock.h"
#include "support/redis_server.h"
#include "registry/entries.h"
#include "cluster/handover.h"

namespace tether {

struct Seen {
  std::atomic<int> starts{0}, restores{0}, ends{0};
};

// Counts; answers {"n": count, "epoch": Session::epoch()}.
class Moving final : public Session {
 public:
  explicit Moving(Seen* seen) : seen_(seen) {}
  void on_start(StartReason) override { seen_->starts++; }
  Response handle(const Request&) override {
    return Response::json(nlohmann::json{{"n", ++n_}, {"epoch", epoch()}}.dump());
  }
  void on_end(EndReason) override { seen_->ends++; }
  std::optional<nlohmann::json> snapshot() const override { return nlohmann::json{{"n", n_}}; }
  bool restore(const nlohmann::json& s) override {
    seen_->restores++;
    n_ = s.value("n", 0);
    return true;
  }

 private:
  Seen* seen_;
  int n_ = 0;
};

inline TokenCodec test_codec() {
  uint8_t b[kTokenKeyBytes];
  randombytes_buf(b, sizeof b);
  std::vector<TokenKey> k;
  k.emplace_back(b);
  auto r = TokenCodec::from_keys(std::move(k));
  if (!r) throw std::runtime_error(r.message());
  return std::move(r.value());
}

class HandoverFixture : public test_support::RedisTest {
 protected:
  static void SetUpTestSuite() {
    ASSERT_GE(sodium_init(), 0);
    RedisTest::SetUpTestSuite();
  }
  void SetUp() override {
    connect("h");
    config_.host = "hostB";
    config_.worker = 2;
    config_.request_timeout_s = 30;
    RegistryConfig rc;
    rc.redis = opts_;
    rc.me = b_;
    registry_ = std::make_unique<Registry>(rc, Registry::Hooks{});
    forwarder_ = std::make_unique<Forwarder>(config_, codec_, registry_.get());
    pool_ = std::make_unique<SessionPool>(clock_, SessionTimeouts{}, "hostB-2", 1);
    pool_->start();
    apps_["kit"] = [this] { return std::make_unique<Moving>(&seen_); };
    handover_ = std::make_unique<Handover>(config_, *forwarder_, *pool_, *registry_, apps_);
  }
  void TearDown() override {
    if (pool_) pool_->stop();
  }
  // The registry entry names `o` at `epoch` (whatever it named before).
  void owned_by(const SessionId& sid, const registry::Owner& o, int64_t epoch) {
    ASSERT_TRUE(redis_->command({"DEL", registry::session_key(opts_.prefix, sid)}));
    auto r = redis_->command(registry::upsert_argv(opts_.prefix, sid, o, epoch, 1000, 2000, 60000));
    ASSERT_TRUE(r) << r.message();
    ASSERT_EQ(reply_integer(r->get()), 1);
  }
  Request envelope(const SessionId& sid, int64_t epoch, int64_t deadline_ms) {
    Request req;
    req.method = "POST";
    req.path = kHandoverPath;
    nlohmann::json j = {{"sid", sid.hex()}, {"app", "kit"}, {"state", {{"n", 5}}}, {"created", unix_millis()},
                        {"epoch", epoch}, {"deadline_ms", deadline_ms}};
    req.body = j.dump();
    return req;
  }
  size_t live() { return pool_->snapshot().size(); }

  Config config_;
  TokenCodec codec_ = test_codec();
  SteadyClock clock_;
  Seen seen_;
  std::map<std::string, SessionFactory> apps_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<Forwarder> forwarder_;
  std::unique_ptr<SessionPool> pool_;
  std::unique_ptr<Handover> handover_;
  const registry::Owner a_{"hostA", 1, "unix:/run/a1.sock"};
  const registry::Owner b_{"hostB", 2, "unix:/run/b2.sock"};
  const registry::Owner c_{"hostC", 3, "unix:/run/c3.sock"};
};

}  // namespace tether
