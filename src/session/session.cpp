// The small non-virtual parts of the public Session API (include/tether/session.h).
#include <sodium.h>

#include "tether/session.h"

#include "session/host.h"

namespace tether {

const char* to_string(StartReason r) {
  switch (r) {
    case StartReason::New: return "new";
    case StartReason::Expired: return "expired";
    case StartReason::Invalid: return "invalid";
    case StartReason::Lost: return "lost";
    case StartReason::Recovered: return "recovered";
  }
  return "?";
}

StartReason parse_start_reason(const std::string& s) {
  for (StartReason r : {StartReason::Expired, StartReason::Invalid, StartReason::Lost, StartReason::Recovered}) {
    if (s == to_string(r)) return r;
  }
  return StartReason::New;
}

const char* to_string(EndReason r) {
  switch (r) {
    case EndReason::Idle: return "idle";
    case EndReason::Lifetime: return "lifetime";
    case EndReason::App: return "app";
    case EndReason::Killed: return "killed";
    case EndReason::Shutdown: return "shutdown";
    case EndReason::Drained: return "drained";
  }
  return "?";
}

std::string Session::short_id() const {
  char hex[13];
  sodium_bin2hex(hex, sizeof hex, id_, 6);
  return std::string(hex, 12);
}

}  // namespace tether
