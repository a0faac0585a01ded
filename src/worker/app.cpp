// tether::App: registration and the command line of a worker (see app.h).
#include <cstring>
#include <iostream>
#include <map>

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
    "usage: %s [--config FILE] [--worker N] [--listen ADDR] [--host ID] [--check-config]\n"
    "  --config FILE   tether.json to read (default: tether.json)\n"
    "  --worker N      this worker's number (overrides the file; supervisord passes %%(process_num)d)\n"
    "  --listen ADDR   unix:/path.sock or 127.0.0.1:port (overrides the file)\n"
    "  --host ID       this host's id (overrides the file)\n"
    "  --check-config  validate the configuration and key file, then exit\n";

}  // namespace

int App::run(int argc, char** argv) {
  std::string config_path = "tether.json";
  ConfigOverrides ov;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value\n", argv[0], flag);
        return nullptr;
      }
      return argv[++i];
    };
    const char* v = nullptr;
    if (a == "--help" || a == "-h") {
      printf(kUsage, argv[0]);
      return 0;
    } else if (a == "--check-config") {
      check_only = true;
    } else if (a == "--config" || a == "--worker" || a == "--listen" || a == "--host") {
      if ((v = value(a.c_str())) == nullptr) return 2;
      if (a == "--config") config_path = v;
      if (a == "--listen") ov.listen = v;
      if (a == "--host") ov.host = v;
      if (a == "--worker") {
        char* end = nullptr;
        long n = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || n < 0 || n > 65535) {
          fprintf(stderr, "%s: --worker: expected a number from 0 to 65535, got \"%s\"\n", argv[0], v);
          return 2;
        }
        ov.worker = static_cast<int>(n);
      }
    } else {
      fprintf(stderr, "%s: unknown argument \"%s\"\n", argv[0], a.c_str());
      fprintf(stderr, kUsage, argv[0]);
      return 2;
    }
  }
  auto config = load_config(config_path, ov);
  if (!config) {
    log::error("config_error", {{"error", config.message()}});
    return 2;
  }
  if (check_only) return check_worker_config(*config, impl_->apps);
  return run_worker(*config, impl_->apps);
}

}  // namespace tether
