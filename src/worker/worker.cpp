// One tetherd worker process: start-up, SIGHUP reload, signals and drain
// (see worker.h); the dispatch rules are built in site.cpp.
#include "worker/worker.h"

#include <signal.h>
#include <sodium.h>

#include <algorithm>
#include <mutex>
#include <optional>

#include "cache/service.h"
#include "config/reload_report.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "fcgi/listener.h"
#include "fcgi/server.h"
#include "http/router.h"
#include "journal/service.h"
#include "ops/slow_log.h"
#include "session/pool.h"
#include "token/token.h"
#include "redis/bus.h"
#include "registry/checkpoints.h"
#include "registry/registry.h"
#include "worker/dispatch.h"
#include "worker/listeners.h"
#include "worker/key_reload.h"
#include "ops/key_figures.h"
#include "worker/services.h"
#include "cluster/peer_gate.h"
#include "cluster/forwarder.h"
#include "cluster/handover.h"
#include "cluster/peer_server.h"
#include "cluster/placement.h"
#include "worker/site.h"
#include "ops/status_route.h"
#include "workflow/engine.h"

namespace tether {
namespace {

SessionTimeouts timeouts_of(const Config& c) {
  SessionTimeouts t;
  t.idle_ms = c.idle_timeout_s * 1000LL;
  t.lifetime_ms = c.lifetime_s * 1000LL;
  t.report_ms = std::clamp<Millis>(t.idle_ms / 4, 1000, 60000);  // registry refresh, at most
  return t;
}


// What a worker loads before it serves; also all that --check-config checks.
class Worker {
 public:
  Worker(const Config& c, const AppRegistry& apps) : config_(c), apps_(apps) {
    if (c.registry) {
      RegistryConfig rc;
      rc.redis = c.redis;
      rc.me = registry::Owner{c.host, c.worker, c.advertise};
      rc.accepting = c.accept_sessions;
      rc.heartbeat_ms = c.heartbeat_ms;
      SessionTimeouts t = timeouts_of(c);
      rc.session_ttl_ms = t.idle_ms + 2 * t.report_ms;  // outlives the refresh interval
      Registry::Hooks hooks;
      hooks.live_sessions = [this] { return pool_->stats().live.load(); };
      hooks.snapshot = [this] { return pool_->snapshot(); };
      // Another worker holds a newer generation: the copy here goes without
      // on_end (the session lives on there); the release queued after it is
      // refused by the epoch fence and clears the epoch kept for sid.
      hooks.lost = [this](const SessionId& sid) {
        if (pool_->drop(sid, false)) registry_->session_ended(sid, EndReason::Killed);
      };
      hooks.figures = [this] { return json_text(status_json(status_sources())); };
      registry_ = std::make_unique<Registry>(rc, hooks);
      bus_ = std::make_unique<Bus>(c.redis);
      ckpt_writer_ = std::make_unique<CheckpointWriter>(CheckpointWriterConfig{c.redis, rc.me, rc.session_ttl_ms});
    }
    pool_ = std::make_unique<SessionPool>(clock_, timeouts_of(c), c.route(), c.session_threads, registry_.get(),
                                          c.session_turns == "inline");
    if (ckpt_writer_) {
      pool_->set_checkpoints(ckpt_writer_.get(), &ckpt_plans_);
      pool_->set_max_live(c.max_live_sessions);  // hibernation needs the writer (Redis)
    }
  }

  // Key file and dispatch rules; the error names the file.
  Status load() {
    if (sodium_init() < 0) return Status::error("libsodium failed to initialise");
    auto codec = TokenCodec::from_key_file(config_.key_file);
    if (!codec) return Status::error(config_.file + ": " + codec.message());
    codec_.emplace(std::move(codec.value()));
    forwarder_.emplace(config_, *codec_, registry_.get());
    auto policy = Placement::parse(config_.placement);
    if (!policy) return Status::error(config_.file + ": field 'placement': " + policy.message());
    if (*policy == Placement::Policy::App && !apps_.placement) {
      return Status::error(config_.file + ": field 'placement': \"app\", but the program registers no placement hook");
    }
    auto journal = journal::JournalService::configure(config_);
    if (!journal) return journal.status();
    journal_ = std::move(*journal);
    placement_.emplace(*policy, config_.accept_sessions, config_.host, config_.worker, registry_.get(),
                       apps_.placement);
    if (registry_) handover_ = std::make_unique<Handover>(config_, *forwarder_, *pool_, *registry_, apps_.sessions);
    peer_gate_.emplace(forwarder_->stats(), handover_.get());
    auto settings = parse_cache_settings(config_.cache, config_.base_dir);
    if (!settings) return Status::error(config_.file + ": " + settings.message());
    cache_ = std::make_unique<CacheService>(clock_, settings.value(), config_.registry ? &config_.redis : nullptr,
                                            config_.route() + ":" + std::to_string(getpid()));
    if (Status s = load_workflows(); !s) return s;
    auto site = build_site(config_, site_parts());
    if (!site) return site.status();
    if (site.value()->router.size() == 0) {
      log::warn("no_routes", {{"file", config_.file}, {"effect", "every request gets 404"}});
    }
    reload_report_.set_rules(site.value()->router.size());
    set_site(std::move(site.value()));
    return Status::ok();
  }

  int serve();

 private:
  // The "workflows" section and its engine (read at start only; SIGHUP keeps them).
  Status load_workflows() {
    auto defs = workflow::parse_definitions(config_.workflows, config_.file);
    if (!defs) return defs.status();
    wf_defs_ = std::move(defs.value());
    if (!wf_defs_.empty() && !config_.registry) {
      return Status::error(config_.file + ": field 'workflows': workflows keep their tickets in Redis; add \"redis\"");
    }
    if (!wf_defs_.empty()) {
      wf_engine_ = std::make_unique<workflow::Engine>(wf_defs_, config_.redis, config_.route(), wf_stats_);
    }
    return Status::ok();
  }

  // Where the status rule, the heartbeat and the admin page read the figures.
  StatusSources status_sources() {
    StatusSources src{config_, server_stats_, pool_->stats(), forwarder_->stats(), registry_.get(), {}};
    src.sections["cache"] = [this] { return cache_->stats_json(); };
    src.started = started_;
    src.slow_requests = &slow_log_.count();
    if (ckpt_writer_) src.sections["checkpoints"] = [this] { return ckpt_writer_->figures(pool_->stats()); };
    if (wf_engine_) src.sections["workflows"] = [this] { return workflow::stats_json(wf_stats_); };
    if (journal_) src.sections["journal"] = [this] { return journal_->status(); };
    src.sections["config"] = [this] { return reload_report_.figures(); };
    src.sections["peer"] = [this] { return peer_figures(peer_stats_, config_.peer_listen); };
    src.sections["keys"] = [this] { return key_figures(*codec_->keys()); };  // ids only
    return src;
  }

  // The worker's pieces that dispatch rules are built on (see site.h).
  SiteParts site_parts() {
    return SiteParts{config_,    apps_,           *codec_,         *pool_,   *forwarder_,
                     *placement_, handover_.get(), registry_.get(), wf_defs_, wf_stats_,
                     *cache_,    [this] { return status_sources(); }};
  }
  // SIGHUP: the file's rules and templates, and the key file, again; a bad
  // file (either) keeps the old rules and keys.
  void reload();

  // Every request: from nginx (from == null) to the dispatch rules; a
  // forwarding peer's through the PeerGate first.
  Response handle(Request& req, const Forwarded* from, fcgi::Connection& conn) {
    std::shared_ptr<const Site> site = current_site();
    int rule = -1;
    auto dispatch = [&] {
      return from ? dispatch_peer_request(*site, req, *from, conn, *peer_gate_, &rule)
                  : dispatch_request(*site, req, &rule);
    };
    if (!slow_log_.enabled()) {
      Response r = dispatch();
      site->templates->finish(r, &cache_->store());
      return r;
    }
    int64_t start = slow_log_.begin();
    std::string method = req.method, path = req.path;  // req may be moved from
    Response r = dispatch();
    site->templates->finish(r, &cache_->store());
    slow_log_.finish(start, method, path, [&] { return rule < 0 ? std::string() : site->router.pattern(rule); },
                     r.status);
    return r;
  }

  // The parts that run threads, in start order (stopped in reverse).
  void add_services(fcgi::FcgiServer& server, PeerServer& peer);
  // SIGTERM: no new sessions, sessions that can move handed over, no new
  // connections, what is in flight finished. False: it did not finish in time.
  bool drain(fcgi::FcgiServer& server, PeerServer& peer);

  const Config& config_;
  const AppRegistry& apps_;
  SteadyClock clock_;
  std::unique_ptr<Registry> registry_;  // null without "redis" in the config
  std::unique_ptr<Bus> bus_;
  // Checkpoints: which apps take them (the Site in force says) and the writer
  // (null without Redis). Before pool_: its session threads reach both until they stop.
  CheckpointPlans ckpt_plans_{config_.max_snapshot_bytes};
  std::unique_ptr<CheckpointWriter> ckpt_writer_;
  std::unique_ptr<SessionPool> pool_;
  fcgi::ServerStats server_stats_;
  PeerServerStats peer_stats_;
  std::optional<TokenCodec> codec_;
  std::optional<Forwarder> forwarder_;
  std::optional<Placement> placement_;
  std::unique_ptr<Handover> handover_;  // null without Redis
  std::unique_ptr<CacheService> cache_;
  // The rules in force. A mutex, not std::atomic<std::shared_ptr>: libstdc++'s
  // lock-bit implementation of the latter is invisible to ThreadSanitizer.
  mutable std::mutex site_mu_;
  std::shared_ptr<const Site> site_;
  std::shared_ptr<const Site> current_site() const {
    std::lock_guard lock(site_mu_);
    return site_;
  }
  void set_site(std::shared_ptr<const Site> s) {
    ckpt_plans_.replace(s->checkpoints ? *s->checkpoints : CheckpointPlanMap{});
    std::lock_guard lock(site_mu_);
    site_ = std::move(s);
  }
  std::unique_ptr<journal::JournalService> journal_;  // null without "journal" in the config
  workflow::Definitions wf_defs_;
  workflow::Stats wf_stats_;
  std::unique_ptr<workflow::Engine> wf_engine_;  // null without workflows
  int64_t started_ = unix_seconds();
  ReloadReport reload_report_;  // each reload's result, status section "config"
  SlowLog slow_log_{config_.slow_request_ms};
  std::optional<PeerGate> peer_gate_;
  size_t moved_ = 0;  // sessions handed over during the drain
  // Last, so destroyed first: its destructor stops every running part
  // before the objects their threads and hooks reach are destroyed.
  Services services_;
};

void Worker::reload() {
  ConfigOverrides ov;
  ov.host = config_.host;
  ov.worker = config_.worker;
  ov.listen = config_.listen;
  ov.peer_listen = config_.peer_listen;
  auto fresh = load_config(config_.file, ov);
  if (!fresh) {
    log::error("reload_failed", {{"error", fresh.message()}, {"effect", "the old rules stay"}});
    reload_report_.failed(fresh.message());
    return;
  }
  auto site = build_site(fresh.value(), site_parts());
  if (!site) {
    log::error("reload_failed", {{"error", site.message()}, {"effect", "the old rules stay"}});
    reload_report_.failed(site.message());
    return;
  }
  // Last, so that a bad key file leaves the old rules too, and good keys
  // are never in force with rules that failed.
  if (Status keys = reload_keys(*codec_, fresh.value().key_file); !keys) {
    std::string error = config_.file + ": " + keys.message();
    log::error("reload_failed", {{"error", error}, {"effect", "the old rules and keys stay"}});
    reload_report_.failed(error);
    return;
  }
  size_t rules = site.value()->router.size();
  set_site(std::move(site.value()));
  size_t dropped = cache_->store().clear();  // cached pages were made by the old rules
  log::info("reloaded", {{"file", config_.file},
                         {"rules", rules},
                         {"cache_dropped", dropped},
                         {"keys", key_figures(*codec_->keys())}});
  reload_report_.succeeded(rules);
}

void Worker::add_services(fcgi::FcgiServer& server, PeerServer& peer) {
  // First, so a refused start (require_durable_redis) starts nothing else;
  // stopped last, after the sessions' final appends: fsynced and shipped.
  if (journal_) services_.add("journal", [this] { return journal_->start(); }, [this] { journal_->stop(); });
  if (registry_) {
    services_.add("registry", [this] { registry_->start(); }, [this] { registry_->stop(); });
    // Stopped after the sessions: their ends' deletes are written (best effort, bounded).
    services_.add("checkpoints", [this] { ckpt_writer_->start(); }, [this] { ckpt_writer_->stop(); });
    bus_->on("kill", [this](const BusMessage& m) {
      if (pool_->kill(m.sid)) log::info("session_killed", {{"session", m.sid.hex().substr(0, 12)}});
    });
    bus_->on("drain", [this](const BusMessage& m) {
      if (m.worker != config_.route()) return;
      log::info("drain_requested", {{"by", "bus"}});
      kill(getpid(), SIGTERM);  // the main thread drains as on SIGTERM
    });
    bus_->on("reload", [this](const BusMessage& m) {
      if (!m.host.empty() && m.host != config_.host) return;
      log::info("reload_requested", {{"by", "bus"}});
      kill(getpid(), SIGHUP);  // the main thread reloads as on SIGHUP
    });
    services_.add("bus", [this] { bus_->start(); }, [this] { bus_->stop(); });
  }
  services_.add("cache", [this] { cache_->start(); }, [this] { cache_->stop(); });
  // Stopping ends the sessions that stayed (reason drained); their registry
  // entries are released before the registry stops.
  services_.add("sessions", [this] { pool_->start(); }, [this] { pool_->stop(EndReason::Drained); });
  // Stopping moves what was made during the drain.
  if (handover_) services_.add("handover", [] {}, [this] { moved_ += handover_->move_all(); });
  // Stopping puts running tickets back in the queue.
  if (wf_engine_) services_.add("workflows", [this] { wf_engine_->start(); }, [this] { wf_engine_->stop(); });
  services_.add("peer", [&peer] { return peer.start(); }, [&peer] { peer.stop(); });
  services_.add("fcgi", [&server] { return server.start(); }, [&server] { server.stop(); });
}

bool Worker::drain(fcgi::FcgiServer& server, PeerServer& peer) {
  if (registry_) registry_->set_accepting(false);
  placement_->set_draining();
  if (handover_) {
    handover_->set_draining();
    moved_ += handover_->move_all();
  }
  server.begin_drain();
  peer.begin_drain();
  int64_t deadline = unix_millis() + config_.drain_timeout_s * 1000LL;
  if (server.wait_drained(config_.drain_timeout_s * 1000LL) &&
      peer.wait_drained(std::max<int64_t>(0, deadline - unix_millis()))) {
    return true;
  }
  log::error("drain_timeout", {{"in_flight", server.stats().in_flight.load() + peer.stats().in_flight.load()},
                               {"waited_s", config_.drain_timeout_s}});
  return false;
}

int Worker::serve() {
  // Signals go to this thread only (sigwait below); no thread is interrupted.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto listeners = open_listeners(config_);  // outlive the servers, closed on every way out
  if (!listeners) return 1;
  auto remove_files = [this] { remove_listener_files(config_); };
  fcgi::FcgiServer server(
      listeners->nginx.get(), server_options(config_),
      [this](Request& req, fcgi::Connection& conn) {
        return handle(req, nullptr, conn);
      },
      server_stats_);
  PeerServer peer(
      listeners->peer.get(), *codec_, peer_server_options(config_),
      [this](Request& req, const Forwarded& from, fcgi::Connection& conn) { return handle(req, &from, conn); },
      peer_stats_);
  add_services(server, peer);
  // A part that fails to start: those started are stopped again, in reverse.
  if (Status s = services_.start(); !s) {
    remove_files();
    return 1;
  }
  log::info("listening", {{"listen", config_.listen},
                          {"peer_listen", config_.peer_listen},
                          {"pid", getpid()},
                          {"acceptor_threads", config_.acceptor_threads},
                          {"session_threads", config_.session_threads},
                          {"keys", key_figures(*codec_->keys())}});  // ids only
  for (;;) {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig == SIGHUP) {
      reload();
      continue;
    }
    log::info("draining", {{"signal", strsignal(sig)}, {"in_flight", server.stats().in_flight.load()}});
    break;
  }
  // Drain, then stop in reverse order of start: the server, the workflow
  // engine, the hand-over of what was made meanwhile, the sessions that
  // stayed, the cache, the bus, the registry, the journal.
  if (!drain(server, peer)) {
    remove_files();
    _exit(1);  // threads are stuck in handlers: do not wait for them
  }
  services_.stop();
  remove_files();
  log::info("stopped",
            {{"requests", server.stats().accepted.load()},
             {"sessions_moved", moved_},
             {"sessions_ended", pool_->stats().ended_drained.load()}});
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
  if (Status s = check_listeners(config); !s) {
    fprintf(stderr, "%s: %s (checked as %s)\n", config.file.c_str(), s.message().c_str(), fcgi::running_as().c_str());
    return 2;
  }
  printf("%s: ok (checked as %s)\n", config.file.c_str(), fcgi::running_as().c_str());
  return 0;
}

}  // namespace tether
