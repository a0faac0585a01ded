// A worker's own status JSON (worker/status_route.h status_json) for unit
// tests: host "h1", the worker given, fresh figures the test may set, and
// sections it may add, before calling json().
#pragma once
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "ops/status_route.h"

namespace tether::test_support {

struct OwnStatus {
  explicit OwnStatus(int worker) {
    config.host = "h1";
    config.worker = worker;
  }
  nlohmann::json json() const {
    StatusSources src{config, server, sessions, forward, nullptr, sections, 1700000000, nullptr};
    return status_json(src);
  }

  Config config;
  fcgi::ServerStats server;
  SessionStats sessions;
  ForwardStats forward;
  std::map<std::string, std::function<nlohmann::json()>> sections;
};

}  // namespace tether::test_support
