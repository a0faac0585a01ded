// The test-kit session app: small endpoints the integration tests and the
// benchmark drive (counter, slow handler, body echo, ordering log, end).
// Runs on its session's thread like any session.
#pragma once
#include <string>
#include <vector>

#include "tether/session.h"

namespace testkit {

class KitSession final : public tether::Session {
 public:
  void on_start(tether::StartReason reason) override { reason_ = tether::to_string(reason); }
  tether::Response handle(const tether::Request& req) override;

 private:
  std::string state_json() const;
  uint64_t count_ = 0;
  std::vector<std::string> seq_;
  int64_t journaled_ = 0;  // entries this session appended (/t/journal)
  std::string reason_;
};

}  // namespace testkit
