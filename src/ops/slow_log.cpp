// The slow log (see slow_log.h).
#include "ops/slow_log.h"

#include <sodium.h>

#include <chrono>

#include "common/clock.h"
#include "common/log.h"

namespace tether {

std::string hashed_sid(const SessionId& sid) {
  uint8_t h[8];
  crypto_generichash(h, sizeof h, sid.bytes.data(), sid.bytes.size(), nullptr, 0);
  char hex[sizeof h * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return hex;
}

int64_t SlowLog::begin() const {
  trace() = RequestTrace{};
  return steady_micros();
}

bool SlowLog::finish(int64_t started_us, const std::string& method, const std::string& path,
                     const std::function<std::string()>& pattern, int status) {
  int64_t total = steady_micros() - started_us;
  if (!enabled() || total < threshold_us_) return false;
  slow_++;
  const RequestTrace& t = trace();
  auto ms = [](int64_t us) { return static_cast<double>(us / 10) / 100.0; };  // 2 decimals
  nlohmann::json f = {{"method", method},   {"path", path},
                      {"route", pattern()},   {"status", status},
                      {"total_ms", ms(total)}, {"queue_ms", ms(t.queue_us)},
                      {"session_ms", ms(t.session_us)}, {"forward_ms", ms(t.forward_us)}};
  if (t.has_session) f["session"] = hashed_sid(t.sid);
  if (!t.owner.empty()) f["owner"] = t.owner;
  log::warn("slow_request", std::move(f));
  return true;
}

}  // namespace tether
