// One tetherd worker process: start-up, signals and drain (see worker.h).
#include "worker/worker.h"

#include <signal.h>
#include <sodium.h>

#include <optional>

#include "common/log.h"
#include "fcgi/listener.h"
#include "fcgi/server.h"
#include "http/router.h"
#include "http/static_files.h"
#include "session/pool.h"
#include "token/token.h"
#include "worker/session_route.h"
#include "worker/status_route.h"

namespace tether {
namespace {

using HandlerResult = Result<std::unique_ptr<RouteHandler>>;

template <class Map>
std::string names_of(const Map& apps) {
  std::string out;
  for (auto& [name, f] : apps) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

// Finds spec (a name) in one of the registry's maps, or says what exists.
template <class Map>
Result<const typename Map::mapped_type*> find_named(const nlohmann::json& spec, const Map& map, const char* what) {
  using R = Result<const typename Map::mapped_type*>;
  if (!spec.is_string()) return R::error(std::string("expected the name of a ") + what);
  auto it = map.find(spec.get<std::string>());
  if (it == map.end()) {
    return R::error(std::string("unknown ") + what + " '" + spec.get<std::string>() + "' (this program has: " +
                    names_of(map) + ")");
  }
  return &it->second;
}

class ControllerRoute final : public RouteHandler {
 public:
  explicit ControllerRoute(const Controller* c) : controller_(c) {}
  Response serve(Request& req, const RouteMatch&) override {
    try {
      return (*controller_)(req);
    } catch (const std::exception& e) {
      log::error("controller_threw", {{"path", req.path}, {"what", e.what()}});
      return Response::text("internal error\n", 500);
    }
  }

 private:
  const Controller* controller_;
};

// What a worker loads before it serves; also all that --check-config checks.
class Worker {
 public:
  Worker(const Config& c, const AppRegistry& apps)
      : config_(c),
        apps_(apps),
        pool_(clock_, SessionTimeouts{c.idle_timeout_s * 1000LL, c.lifetime_s * 1000LL}, c.route(),
              c.session_threads) {}

  // Key file and dispatch rules; the error names the file.
  Status load() {
    if (sodium_init() < 0) return Status::error("libsodium failed to initialise");
    auto codec = TokenCodec::from_key_file(config_.key_file);
    if (!codec) return Status::error(config_.file + ": " + codec.message());
    codec_.emplace(std::move(codec.value()));
    std::map<std::string, RouteFactory> kinds;
    kinds["session"] = [this](const nlohmann::json& spec) -> HandlerResult {
      auto factory = find_named(spec, apps_.sessions, "session app");
      if (!factory) return factory.status();
      return std::unique_ptr<RouteHandler>(new SessionRoute(*factory, *codec_, pool_, config_));
    };
    kinds["controller"] = [this](const nlohmann::json& spec) -> HandlerResult {
      auto controller = find_named(spec, apps_.controllers, "controller");
      if (!controller) return controller.status();
      return std::unique_ptr<RouteHandler>(new ControllerRoute(*controller));
    };
    kinds["file"] = [this](const nlohmann::json& spec) { return StaticFiles::make(spec, config_.base_dir); };
    kinds["status"] = [this](const nlohmann::json& spec) {
      return StatusRoute::make(spec, config_, server_stats_, pool_.stats());
    };
    auto router = Router::build(config_.routes, kinds);
    if (!router) return Status::error(config_.file + ": " + router.message());
    router_.emplace(std::move(router.value()));
    if (router_->size() == 0) log::warn("no_routes", {{"file", config_.file}, {"effect", "every request gets 404"}});
    return Status::ok();
  }

  int serve();

 private:
  const Config& config_;
  const AppRegistry& apps_;
  SteadyClock clock_;
  SessionPool pool_;
  fcgi::ServerStats server_stats_;
  std::optional<TokenCodec> codec_;
  std::optional<Router> router_;
};

int Worker::serve() {
  // Signals go to this thread only (sigwait below); no thread is interrupted.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto listen_fd = fcgi::open_listener(config_.listen);
  if (!listen_fd) {
    log::error("listen_failed", {{"listen", config_.listen}, {"error", listen_fd.message()}});
    return 1;
  }
  fcgi::ServerOptions opts{config_.acceptor_threads, config_.max_acceptor_threads, config_.max_body_bytes,
                           config_.keepalive_idle_s};
  fcgi::FcgiServer server(*listen_fd, opts, [this](Request& req) { return router_->dispatch(req); },
                          server_stats_);
  pool_.start();
  if (Status s = server.start(); !s) {
    log::error("start_failed", {{"error", s.message()}});
    return 1;
  }
  log::info("listening", {{"listen", config_.listen},
                          {"pid", getpid()},
                          {"acceptor_threads", config_.acceptor_threads},
                          {"session_threads", config_.session_threads}});
  for (;;) {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig == SIGHUP) {
      log::info("sighup_ignored", {{"reason", "rule reload is not implemented yet"}});
      continue;
    }
    log::info("draining", {{"signal", strsignal(sig)}, {"in_flight", server.stats().in_flight.load()}});
    break;
  }
  server.begin_drain();
  if (!server.wait_drained(config_.drain_timeout_s * 1000LL)) {
    log::error("drain_timeout",
               {{"in_flight", server.stats().in_flight.load()}, {"waited_s", config_.drain_timeout_s}});
    fcgi::remove_listener_file(config_.listen);
    _exit(1);  // threads are stuck in handlers: do not wait for them
  }
  server.stop();
  pool_.stop();
  fcgi::remove_listener_file(config_.listen);
  log::info("stopped",
            {{"requests", server.stats().accepted.load()}, {"sessions_ended", pool_.stats().ended_shutdown.load()}});
  return 0;
}

}  // namespace

int run_worker(const Config& config, const AppRegistry& apps) {
  log::set_identity(config.host, config.worker);
  Worker w(config, apps);
  if (Status s = w.load(); !s) {
    log::error("config_error", {{"error", s.message()}});
    return 2;
  }
  return w.serve();
}

int check_worker_config(const Config& config, const AppRegistry& apps) {
  Worker w(config, apps);
  if (Status s = w.load(); !s) {
    fprintf(stderr, "%s\n", s.message().c_str());
    return 2;
  }
  printf("%s: ok\n", config.file.c_str());
  return 0;
}

}  // namespace tether
