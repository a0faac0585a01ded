// The test-kit session app: small endpoints the integration tests and the
// benchmark drive (counter, slow handler, body echo, ordering log, end, id rotation).
// Runs on its session's thread like any session; moves to another worker on drain.
#pragma once
#include <string>
#include <vector>

#include "tether/session.h"

namespace testkit {

class KitSession final : public tether::Session {
 public:
  void on_start(tether::StartReason reason) override { reason_ = tether::to_string(reason); }
  tether::Response handle(const tether::Request& req) override;
  // Hand-over on drain: the counter, the ordering log and the start reason move along.
  std::optional<nlohmann::json> snapshot() const override;
  bool restore(const nlohmann::json& state) override;
  // Hibernation: counted in the state ("wakes"); a session woken at least
  // once writes one line to stderr when it ends (the worker's log), so a
  // test can see on_end ran for it.
  void on_wake() override { ++wakes_; }
  void on_end(tether::EndReason reason) override;

 private:
  std::string state_json() const;
  uint64_t count_ = 0;
  std::vector<std::string> seq_;
  int64_t journaled_ = 0;  // entries this session appended (/t/journal)
  std::string reason_;
  std::string pad_;  // /t/pad: state of a given size (hibernation and memory tests)
  int64_t wakes_ = 0;
};

}  // namespace testkit
