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

 private:
  std::string state_json() const;
  uint64_t count_ = 0;
  std::vector<std::string> seq_;
  int64_t journaled_ = 0;  // entries this session appended (/t/journal)
  std::string reason_;
};

}  // namespace testkit
