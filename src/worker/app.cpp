// tether::App: registration and the command line of a worker (see app.h).
#include <cstring>
#include <iostream>
#include <map>

#include "common/flags.h"
#include "common/log.h"
#include "config/config.h"
#include "tether/app.h"
#include "worker/worker.h"

namespace tether {

struct App::Impl {
  AppRegistry apps;
};

App::App() : impl_(std::make_unique<Impl>()) {}
App::~App() = default;

void App::add_session(std::string name, SessionFactory factory) {
  impl_->apps.sessions[std::move(name)] = std::move(factory);
}

void App::placement(PlacementHook hook) { impl_->apps.placement = std::move(hook); }

void App::cache_hook(std::string name, cache::Hook hook) {
  impl_->apps.cache_hooks[std::move(name)] = std::move(hook);
}

void App::controller(std::string name, Controller handler) {
  impl_->apps.controllers[std::move(name)] = std::move(handler);
}

namespace {

constexpr const char* kUsage =
    "usage: %s [--config FILE] [--worker N] [--listen ADDR] [--peer-listen ADDR] [--host ID] [--check-config]\n"
    "  --config FILE   tether.json to read (default: tether.json)\n"
    "  --worker N      this worker's number (overrides the file; supervisord passes %%(process_num)d)\n"
    "  --listen ADDR   nginx's listener: unix:/path.sock or 127.0.0.1:port (overrides the file)\n"
    "  --peer-listen ADDR  the peer listener: unix:/path.sock or IPv4:port (overrides the file)\n"
    "  --host ID       this host's id (overrides the file)\n"
    "  --check-config  validate the configuration and key file, then exit\n";

}  // namespace

int App::run(int argc, char** argv) {
  std::string config_path = "tether.json";
  ConfigOverrides ov;
  bool check_only = false, help = false;
  std::string listen, peer_listen, host;
  int64_t worker = -1;
  Flags flags(argv[0]);
  flags.flag("--help", &help).flag("-h", &help).flag("--check-config", &check_only);
  flags.text("--config", &config_path).text("--listen", &listen).text("--host", &host);
  flags.text("--peer-listen", &peer_listen);
  flags.integer("--worker", 0, 65535, &worker);
  std::vector<std::string> positional;
  Status parsed = flags.parse(argc, argv, &positional);
  if (parsed && !positional.empty()) parsed = Status::error(std::string(argv[0]) + ": unknown argument \"" + positional[0] + "\"");
  if (!parsed) {
    fprintf(stderr, "%s\n", parsed.message().c_str());
    fprintf(stderr, kUsage, argv[0]);
    return 2;
  }
  if (help) {
    printf(kUsage, argv[0]);
    return 0;
  }
  if (!listen.empty()) ov.listen = listen;
  if (!peer_listen.empty()) ov.peer_listen = peer_listen;
  if (!host.empty()) ov.host = host;
  if (worker >= 0) ov.worker = static_cast<int>(worker);
  auto config = load_config(config_path, ov);
  if (!config) {
    log::error("config_error", {{"error", config.message()}});
    return 2;
  }
  if (check_only) return check_worker_config(*config, impl_->apps);
  return run_worker(*config, impl_->apps);
}

}  // namespace tether
