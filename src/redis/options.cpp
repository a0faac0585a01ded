// parse_host_port (see options.h).
#include "redis/options.h"

#include <cstdlib>

namespace tether {

Result<HostPort> parse_host_port(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::error("expected \"host:port\", got \"" + text + "\"");
  }
  std::string port = text.substr(colon + 1);
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (*end != '\0' || p < 1 || p > 65535 || port.size() > 5) {
    return Status::error("expected a port 1-65535 after the colon, got \"" + text + "\"");
  }
  return HostPort{text.substr(0, colon), static_cast<int>(p)};
}

}  // namespace tether
