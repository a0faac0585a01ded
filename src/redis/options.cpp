// parse_host_port (see options.h).
#include "redis/options.h"

#include "common/flags.h"

namespace tether {

Result<HostPort> parse_host_port(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::error("expected \"host:port\", got \"" + text + "\"");
  }
  std::string port = text.substr(colon + 1);
  auto p = parse_integer(port, 1, 65535);
  if (!p || port.size() > 5) return Status::error("expected a port 1-65535 after the colon, got \"" + text + "\"");
  return HostPort{text.substr(0, colon), static_cast<int>(*p)};
}

}  // namespace tether
