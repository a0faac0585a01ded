// Worker: one tetherd process. Wires the configuration, token keys, router,
// session threads and FastCGI server together, then waits for signals on
// the main thread (SIGTERM/SIGINT: drain and exit 0).
// Thread ownership: run() is called once, from main(); it owns everything.
#pragma once
#include <map>
#include <string>

#include "config/config.h"
#include "tether/app.h"

namespace tether {

// What an application registered with tether::App, by name.
struct AppRegistry {
  std::map<std::string, SessionFactory> sessions;
  std::map<std::string, Controller> controllers;
  PlacementHook placement;
  std::map<std::string, cache::Hook> cache_hooks;
};

// Exit codes: 0 drained cleanly, 1 failed to start or to drain in time,
// 2 bad configuration or key file.
int run_worker(const Config& config, const AppRegistry& apps);
// Validates what run_worker would load (keys, rules) without serving: 0 or 2.
int check_worker_config(const Config& config, const AppRegistry& apps);

}  // namespace tether
