// The "session" rule kind (see session_route.h).
#include "cluster/session_route.h"

#include <algorithm>
#include <chrono>

#include "common/clock.h"
#include "common/log.h"
#include "common/route.h"
#include "session/trace.h"

namespace tether {

std::string SessionRoute::cookie_header(const std::string& value, bool https, bool clear) const {
  std::string h = config_.session_cookie() + "=" + value + "; Path=" + config_.cookie_path +
                  "; HttpOnly; SameSite=" + config_.cookie_samesite;
  if (https || config_.cookie_secure == "always") h += "; Secure";
  if (clear) h += "; Max-Age=0";
  return h;
}

namespace {

// A bound was hit: the answer says when to try again.
Response refuse(int status, const std::string& text, int retry_after_s) {
  Response r = Response::text(text, status);
  r.header("Retry-After", std::to_string(retry_after_s));
  return r;
}

}  // namespace

Response SessionRoute::no_room() {
  if (log::every(full_log_, 10000)) {
    log::warn("sessions_full", {{"max_sessions", config_.max_sessions},
                                {"refused", pool_.stats().refused_full.load()},
                                {"effect", "new sessions get 503 until a worker has room"}});
  }
  return refuse(503, "no worker has room for a new session: try again shortly\n", kFullRetryAfterS);
}

Response SessionRoute::serve(Request& req, const RouteMatch& match) {
  const Forwarded* from_peer = match.forwarded;
  StartReason reason = StartReason::New;
  std::string_view cookie = req.cookie(config_.session_cookie());
  if (!cookie.empty()) {
    auto claims = codec_.decode(cookie);
    int64_t now = unix_seconds();
    if (!claims) {
      reason = StartReason::Invalid;
    } else if (claims->issued + config_.lifetime_s < now || claims->issued > now + 300) {
      reason = StartReason::Expired;
    } else if (claims->host == config_.host && claims->worker == config_.worker) {
      return run_here(req, true, claims->sid, StartReason::Expired, 0, claims->epoch);
    } else if (handover_ != nullptr && handover_->adopted(claims->sid)) {
      return run_here(req, true, claims->sid, StartReason::Expired, kReissue, claims->epoch);  // moved here on a drain
    } else if (from_peer != nullptr) {
      reason = StartReason::Lost;  // a peer thought it was ours: never forward twice
    } else {
      std::string addr = forwarder_.address_of(claims->host, claims->worker);
      if (!addr.empty()) {
        CallResult r = forward(addr, req, "", make_route(claims->host, claims->worker));
        if (r.kind == CallResult::Kind::Ok) return std::move(r.response);
        if (r.kind == CallResult::Kind::Failed) {
          // The owner took the request and then failed: it may have run, so
          // no new session; the client may retry.
          log::warn("forward_failed", {{"owner", addr}, {"error", r.error}});
          return Response::text("the session's worker failed during the request\n", 502);
        }
      }
      // Gone, or silent for the quick timeout: handed over before it left?
      registry::Owner silent;
      if (auto moved = follow_move(req, claims->sid, claims->host, claims->worker, &silent)) return std::move(*moved);
      registry::Owner gone{claims->host, claims->worker, addr};
      if (auto back = recover(req, claims->sid, gone, claims->epoch, silent)) return std::move(*back);
      reason = StartReason::Lost;
    }
  }
  if (from_peer != nullptr && !from_peer->reason.empty()) {
    reason = parse_start_reason(from_peer->reason);
    if (reason == StartReason::Recovered) reason = StartReason::Lost;  // a new session restores nothing
  }
  if (from_peer == nullptr) {
    PlacementRoom room{config_.max_sessions, pool_.stats().live.load() >= config_.max_sessions};
    bool full = false;
    auto target = placement_.choose(req, room, &full);
    if (!target && full) {
      pool_.count_refused_full();
      return no_room();
    }
    if (!target) return refuse(503, target.message() + "\n", kFullRetryAfterS);
    if (!target->empty()) {
      CallResult r = forward(*target, req, to_string(reason), *target);
      if (r.kind == CallResult::Kind::Ok) return std::move(r.response);
      if (r.kind == CallResult::Kind::Failed) return Response::text("the chosen worker failed\n", 502);
      if (!config_.accept_sessions) return Response::text("no worker answered to take the session\n", 503);
      // The chosen worker is silent: make the session here instead.
    }
  }
  return run_here(req, false, SessionId::random(), reason);
}

CallResult SessionRoute::forward(const std::string& addr, const Request& req, const std::string& reason,
                                       const std::string& owner) {
  int64_t start = steady_micros();
  CallResult r = forwarder_.forward(addr, req, reason);
  RequestTrace& t = trace();
  t.forward_us += steady_micros() - start;
  t.owner = owner;
  return r;
}

std::optional<Response> SessionRoute::follow_move(Request& req, const SessionId& sid, const std::string& was_host,
                                                  int was_worker, registry::Owner* tried) {
  if (registry_ == nullptr) return std::nullopt;
  auto entry = registry_->lookup(sid);
  if (!entry || !entry->has_value()) return std::nullopt;
  const registry::Owner& now = (*entry)->owner;
  if (now.host == was_host && now.worker == was_worker) return std::nullopt;
  if (now.host == config_.host && now.worker == config_.worker) return std::nullopt;  // ours, yet not here
  if (tried != nullptr) *tried = now;
  return to_owner(req, now);
}

std::optional<Response> SessionRoute::recover(Request& req, const SessionId& sid, registry::Owner gone,
                                              int64_t token_epoch, const registry::Owner& silent) {
  if (registry_ == nullptr || handover_ == nullptr) return std::nullopt;
  using K = registry::Recovery::Kind;
  auto known = [this](const std::string& app) { return handover_->app(app) != nullptr; };
  // Twice at most: the entry may name a worker that is silent too (a session
  // recovered or handed over to a worker that died since).
  for (int attempt = 0; attempt < 2; ++attempt) {
    Result<registry::Recovery> found = registry::Recovery{};
    bool restored = false;
    {
      std::lock_guard<std::mutex> lock(recover_mu_[SessionIdHash{}(sid) % kRecoverStripes]);
      found = registry_->recover(sid, gone, known);
      if (found && found->kind == K::Won) restored = restore(sid, *found);
    }
    if (!found) {
      if (log::every(recover_log_, 10000)) {
        log::warn("session_recover_failed", {{"session", sid.hex().substr(0, 12)}, {"error", found.message()},
                                             {"effect", "a new session (lost)"}});
      }
      return std::nullopt;
    }
    switch (found->kind) {
      case K::None: return std::nullopt;
      case K::Taken: {
        const registry::Owner& o = found->owner;
        bool asked = !silent.host.empty() && o.host == silent.host && o.worker == silent.worker;
        if (!asked) {
          if (auto answer = to_owner(req, o)) return answer;
        }
        gone = o;  // silent too: recover it from that one
        continue;
      }
      case K::Ours: break;  // recovered here by a request that went first
      case K::Won:
        if (!restored) return std::nullopt;  // the entry names this worker, unserved: it expires
        break;
    }
    return run_here(req, true, sid, StartReason::Lost, kReissue, token_epoch);
  }
  return std::nullopt;
}

bool SessionRoute::restore(const SessionId& sid, const registry::Recovery& won) {
  const SessionFactory* factory = handover_->app(won.app);
  Status s = factory != nullptr ? pool_.adopt(sid, factory, won.envelope, true)
                                : Status::error("no session app named " + won.app);
  nlohmann::json fields = {{"session", sid.hex().substr(0, 12)}, {"epoch", won.epoch},
                           {"checkpoint_age_ms", unix_millis() - won.at_ms}};
  if (s) {
    handover_->recovered(sid);
    log::info("session_recovered", std::move(fields));
    return true;
  }
  pool_.count_restore_failed();
  fields["error"] = s.message();
  fields["effect"] = "a new session (lost)";
  log::warn("session_restore_failed", std::move(fields));
  return false;
}

std::optional<Response> SessionRoute::to_owner(Request& req, const registry::Owner& owner) {
  CallResult r = forward(owner.addr, req, "", make_route(owner.host, owner.worker));
  if (r.kind == CallResult::Kind::Ok) return std::move(r.response);
  if (r.kind == CallResult::Kind::Failed) return Response::text("the session's worker failed\n", 502);
  return std::nullopt;
}

std::optional<Response> SessionRoute::settle(Request& req, const SessionId& sid) {
  auto owner = registry_->settle(sid);
  if (owner && !owner->has_value()) return std::nullopt;  // ours: serve it
  pool_.count_refused_stale();
  if (log::every(stale_log_, 1000)) {
    log::warn("session_unsettled", {{"session", sid.hex().substr(0, 12)},
                                    {"error", owner ? std::string() : owner.message()},
                                    {"refused", pool_.stats().refused_stale.load()},
                                    {"effect", owner ? "moved during a hand-over: sent to its owner"
                                                     : "not served until the registry tells whose it is"}});
  }
  if (owner) {
    pool_.drop(sid, false);  // the receiver took it: the copy here must never answer again
    registry_->forget(sid);
    if (auto answer = to_owner(req, **owner)) return answer;
  }
  return refuse(503, "the session's owner is being settled: try again shortly\n", 1);
}

Response SessionRoute::stale(Request& req, const SessionId& sid, int64_t token_epoch, int64_t epoch) {
  pool_.count_refused_stale();
  if (log::every(stale_log_, 1000)) {
    log::warn("session_stale_copy", {{"session", sid.hex().substr(0, 12)}, {"token_epoch", token_epoch},
                                     {"epoch_here", epoch}, {"refused", pool_.stats().refused_stale.load()},
                                     {"effect", "not served here; sent to the registry's owner"}});
  }
  auto entry = registry_->lookup(sid);
  if (entry && entry->has_value() && (*entry)->epoch >= token_epoch) {
    const registry::Owner& now = (*entry)->owner;
    if (now.host != config_.host || now.worker != config_.worker) {
      pool_.drop(sid, false);  // a newer generation lives there: this copy must never answer again
      registry_->forget(sid);
      if (auto answer = to_owner(req, now)) return std::move(*answer);
    }
  }
  return refuse(503, "the session's owner is being settled: try again shortly\n", 1);
}

Response SessionRoute::run_here(Request& req, bool existing, const SessionId& sid, StartReason reason, int flags,
                                int64_t token_epoch) {
  if (existing && registry_ != nullptr && registry_->unsettled(sid)) {
    if (auto answer = settle(req, sid)) return std::move(*answer);
  }
  // The epoch this worker holds sid at; a copy here older than the token's
  // epoch is stale (the session thread checks, where it knows there is one).
  // A new id is at 1 (not asked: the registry's epoch() fences first writes).
  const int64_t epoch = registry_ != nullptr && existing ? registry_->epoch(sid) : 1;
  auto job = std::make_shared<SessionJob>();
  job->factory = factory_;
  job->existing = existing;
  job->epoch = epoch;
  job->token_epoch = registry_ != nullptr ? token_epoch : 0;
  job->sid = sid;
  job->reason_if_new = reason;
  // A session this worker does not have may have been handed over by its
  // previous run (a restart under supervisord): ask the registry first.
  job->create_if_missing = registry_ == nullptr || (flags & (kCreate | kReissue)) != 0;
  job->max_sessions = config_.max_sessions;
  job->max_queued = config_.max_queued_per_session;
  bool https = req.https;
  job->request = std::move(req);
  int64_t posted = steady_micros();
  switch (pool_.run(job)) {  // on this thread when the session is idle
    case Posted::Ok: break;
    case Posted::Stopping: return Response::text("worker is shutting down\n", 503);
    case Posted::Busy:  // nothing ran
      if (log::every(busy_log_, 10000)) {
        log::warn("session_queue_full", {{"max_queued_per_session", config_.max_queued_per_session},
                                         {"refused", pool_.stats().refused_queued.load()}});
      }
      return refuse(429, "too many requests waiting for this session: try again shortly\n", 1);
  }
  if (!job->wait_for(std::chrono::seconds(config_.request_timeout_s))) {
    job->abandoned.store(true, std::memory_order_release);
    return Response::text("session busy: no reply in time\n", 504);
  }
  RequestTrace& t = trace();
  t.queue_us += job->started_us - posted;
  t.session_us += job->finished_us - job->started_us;
  t.has_session = true;
  t.sid = job->rotated ? job->rotated_sid : job->created ? job->created_sid : job->sid;
  t.owner = config_.route();
  if (!job->moved_to.empty()) {  // handed over while this request waited: its new owner serves it
    CallResult r = forward(job->moved_to, job->request, "", job->moved_to);
    if (r.kind == CallResult::Kind::Ok) return std::move(r.response);
    return Response::text("the session moved and its new worker did not answer\n", 502);
  }
  if (job->full) return no_room();  // counted by the session thread
  if (job->stale) return stale(job->request, sid, token_epoch, epoch);
  if (job->missing) {
    if (auto moved = follow_move(job->request, sid, config_.host, config_.worker)) return std::move(*moved);
    // Still ours in the registry, yet not here: this worker's previous run
    // held it and died (a restart under supervisord): its last checkpoint.
    registry::Owner me{config_.host, config_.worker, ""};
    if (auto back = recover(job->request, sid, me, token_epoch, registry::Owner{})) return std::move(*back);
    return run_here(job->request, existing, sid, reason, flags | kCreate, token_epoch);
  }
  Response resp = std::move(job->response);
  if (job->created && resp.status == 404) {
    // The app knows no such path: a request that found nothing makes no
    // session (no cookie; the session made for it ends at once).
    pool_.kill(job->created_sid);
    return resp;
  }
  if (job->ended) {
    resp.header("Set-Cookie", cookie_header("", https, true));
  } else if (job->rotated) {
    // Session::rotate_id: the session goes on under a new id (epoch 1, made
    // here); the old cookie now names an ended session (reason expired).
    TokenClaims c{job->rotated_sid, config_.host, config_.worker, unix_seconds()};
    resp.header("Set-Cookie", cookie_header(codec_.encode(c), https, false));
  } else if (job->created) {
    TokenClaims c{job->created_sid, config_.host, config_.worker, unix_seconds()};
    resp.header("Set-Cookie", cookie_header(codec_.encode(c), https, false));
  } else if ((flags & kReissue) != 0 || epoch > std::max<int64_t>(token_epoch, 1)) {
    // Moved here, or the client's token names an older epoch: the new
    // cookie carries this owner and its epoch.
    TokenClaims c{job->sid, config_.host, config_.worker, unix_seconds(), epoch};
    resp.header("Set-Cookie", cookie_header(codec_.encode(c), https, false));
  }
  return resp;
}

}  // namespace tether
