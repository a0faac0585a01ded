// make_route: a worker's name across the cluster, "{host}-{worker}" (h1-0):
// the token's route, nginx's sticky key, log and tetherctl output, the
// registry's error messages. Stateless; safe from any thread.
#pragma once
#include <string>

namespace tether {

inline std::string make_route(const std::string& host, int worker) { return host + "-" + std::to_string(worker); }

}  // namespace tether
