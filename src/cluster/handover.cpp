// Session hand-over between workers on drain (see handover.h).
#include "cluster/handover.h"

#include <algorithm>

#include "common/clock.h"
#include "common/firewall.h"
#include "common/json.h"
#include "common/log.h"
#include "common/route.h"

namespace tether {

std::string Handover::app_name(const SessionFactory* factory) const {
  for (const auto& [name, f] : apps_) {
    if (&f == factory) return name;
  }
  return "";
}

size_t Handover::move_all() {
  auto sender = [this](const SessionId& sid, const SessionFactory* factory, const nlohmann::json& envelope) {
    return send(sid, factory, envelope);
  };
  size_t moved = pool_.hand_over(sender);
  log::info("sessions_handed_over", {{"moved", moved}, {"staying", pool_.stats().live.load()}});
  return moved;
}

std::string Handover::send(const SessionId& sid, const SessionFactory* factory, const nlohmann::json& envelope) {
  // Runs on a session thread: whatever throws (the app's state, a peer's
  // reply) leaves the session here, to end drained, and the drain goes on.
  std::string to;
  firewall::guard("handover.send", [&] { to = try_send(sid, factory, envelope); });
  return to;
}

std::string Handover::try_send(const SessionId& sid, const SessionFactory* factory, const nlohmann::json& envelope) {
  std::string app = app_name(factory);
  if (app.empty()) return "";
  auto dir = registry_.workers();
  if (!dir) return "";
  std::vector<const registry::WorkerInfo*> targets;
  for (const auto& w : *dir) {
    if (w.accepting && !(w.host == config_.host && w.worker == config_.worker)) targets.push_back(&w);
  }
  // This host's workers first, then the others.
  std::stable_partition(targets.begin(), targets.end(), [&](auto* w) { return w->host == config_.host; });
  size_t local = std::count_if(targets.begin(), targets.end(), [&](auto* w) { return w->host == config_.host; });
  Request req;
  req.method = "POST";
  req.path = kHandoverPath;
  req.remote_addr = "127.0.0.1";
  req.headers["content-type"] = "application/json";
  nlohmann::json body = envelope;
  body["app"] = app;
  size_t n = local > 0 ? local : targets.size();
  if (n == 0 && log::every(no_target_log_, 1000)) {
    log::warn("handover_no_target", {{"effect", "sessions stay and end drained"}, {"workers_known", dir->size()}});
  }
  for (size_t attempt = 0; attempt < std::min<size_t>(n, 2); ++attempt) {
    const registry::WorkerInfo* to = targets[(turn_++) % n];
    // The receiver compares owner and epoch in its take-over, and gives up at
    // the same deadline as this call.
    body["epoch"] = registry_.epoch(sid);
    body["deadline_ms"] = unix_millis() + int64_t{config_.request_timeout_s} * 1000;
    req.body = json_text(body);  // invalid UTF-8 in the app's state travels as U+FFFD
    auto r = forwarder_.call(to->addr, req, "");
    if (r.kind == CallResult::Kind::Ok && r.response.status == 200) {
      registry_.forget(sid);
      return to->addr;
    }
    log::warn("handover_refused", {{"session", sid.hex().substr(0, 12)},
                                   {"to", make_route(to->host, to->worker)},
                                   {"status", r.kind == CallResult::Kind::Ok ? r.response.status : 0},
                                   {"error", r.kind == CallResult::Kind::Ok ? r.response.body : r.error}});
    // No answer, or a refusal: the receiver may still have taken the entry
    // (its answer lost, or late). Fence: whoever moves the entry from this
    // worker at this epoch first decides where the session lives.
    auto fence = registry_.reclaim(sid, int_field(envelope, "created").value_or(0));
    if (!fence) {
      log::warn("handover_unsettled", {{"session", sid.hex().substr(0, 12)}, {"error", fence.message()},
                                       {"effect", "the session stays, unserved until the registry tells whose it is"}});
      return "";
    }
    if (fence->has_value()) {  // the receiver took it: it lives there now
      const registry::Owner& o = **fence;
      log::info("handover_settled_late", {{"session", sid.hex().substr(0, 12)}, {"to", make_route(o.host, o.worker)}});
      registry_.forget(sid);
      return o.addr;
    }
  }
  return "";
}

Response Handover::receive(const Request& req, const Forwarded& from) {
  auto refuse = [](int status, const std::string& why) { return Response::text(why + "\n", status); };
  if (req.method != "POST") return refuse(405, "handover: POST only");
  if (!config_.accept_sessions || draining_) return refuse(409, "handover: this worker takes no sessions");
  auto envelope = decode_envelope(req.body);
  if (!envelope) {
    firewall::refused("handover.bad_envelope", envelope.message());
    return refuse(400, "handover: " + envelope.message());
  }
  // A sender that gave no deadline gets this worker's own: the adopt is bounded either way.
  if (!field(*envelope, "deadline_ms")) (*envelope)["deadline_ms"] = unix_millis() + int64_t{config_.request_timeout_s} * 1000;
  const nlohmann::json& j = *envelope;
  SessionId sid;
  SessionId::from_hex(*string_field(j, "sid"), &sid);
  std::string app_name = *string_field(j, "app");
  auto app = apps_.find(app_name);
  if (app == apps_.end()) return refuse(409, "handover: no session app named " + utf8_or_replaced(app_name));
  registry::Owner sender;
  if (!parse_route(from.from, &sender.host, &sender.worker)) return refuse(400, "handover: bad sender route");
  // Bounded like the sender: past its deadline the sender reclaims the
  // session, so an adopt or take-over that would come later is not tried.
  auto deadline = int_field(j, "deadline_ms");
  auto too_late = [&] {
    log::warn("handover_too_late", {{"session", sid.hex().substr(0, 12)}, {"from", from.from},
                                    {"effect", "not adopted; the sender keeps or reclaims it"}});
    return refuse(504, "handover: too late: the sender gave up");
  };
  if (deadline && unix_millis() >= *deadline) return too_late();
  if (Status s = pool_.adopt(sid, &app->second, j); !s) {
    if (deadline && unix_millis() >= *deadline) return too_late();
    return refuse(409, "handover: " + s.message());
  }
  if (deadline && unix_millis() >= *deadline) {
    pool_.drop(sid);  // the sender reclaims it: not ours, and not ended (no on_end)
    return too_late();
  }
  if (Status s = registry_.take_over(sid, sender, int_field(j, "epoch").value_or(0), int_field(j, "created").value_or(0));
      !s) {
    pool_.drop(sid);  // not ours in the registry: it lives on at its owner, so no on_end here
    return refuse(409, "handover: registry: " + s.message());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    prune_locked(unix_millis());
    adopted_[sid] = unix_millis();
  }
  return Response::text("adopted\n");
}

void Handover::prune_locked(int64_t now_ms) {
  // A cookie naming the old worker was issued before the move, so none is
  // valid past lifetime_s after it: the entry is of no use then.
  int64_t keep_ms = int64_t{config_.lifetime_s} * 1000;
  if (now_ms - last_prune_ms_ < std::min<int64_t>(keep_ms, 60000) && adopted_.size() < 4096) return;
  last_prune_ms_ = now_ms;
  for (auto it = adopted_.begin(); it != adopted_.end();) {
    it = now_ms - it->second >= keep_ms ? adopted_.erase(it) : std::next(it);
  }
}

void Handover::recovered(const SessionId& sid) {
  std::lock_guard<std::mutex> lock(mu_);
  prune_locked(unix_millis());
  adopted_[sid] = unix_millis();
}

size_t Handover::adopted_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return adopted_.size();
}

Result<nlohmann::json> Handover::decode_envelope(const std::string& body) {
  using R = Result<nlohmann::json>;
  auto parsed = parse_json(body);
  if (!parsed) return R::error("envelope: " + parsed.message());
  const nlohmann::json& j = *parsed;
  if (!j.is_object()) return R::error("envelope: expected an object");
  SessionId sid;
  auto hex = string_field(j, "sid");
  if (!hex || !SessionId::from_hex(*hex, &sid)) return R::error("envelope: sid: expected 32 hex digits");
  if (!string_field(j, "app")) return R::error("envelope: app: expected a string");
  if (field(j, "created") && (!int_field(j, "created") || *int_field(j, "created") < 0)) {
    return R::error("envelope: created: expected unix milliseconds");
  }
  if (field(j, "requests") && (!int_field(j, "requests") || *int_field(j, "requests") < 0)) {
    return R::error("envelope: requests: expected a count");
  }
  if (field(j, "start_reason") && !string_field(j, "start_reason")) {
    return R::error("envelope: start_reason: expected a string");
  }
  if (field(j, "epoch") && (!int_field(j, "epoch") || *int_field(j, "epoch") < 1)) {
    return R::error("envelope: epoch: expected an integer >= 1");
  }
  if (field(j, "deadline_ms") && (!int_field(j, "deadline_ms") || *int_field(j, "deadline_ms") < 0)) {
    return R::error("envelope: deadline_ms: expected unix milliseconds");
  }
  if (!field(j, "state")) return R::error("envelope: state: missing");
  return parsed;
}

bool Handover::adopted(const SessionId& sid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = adopted_.find(sid);
  return it != adopted_.end() && unix_millis() - it->second < int64_t{config_.lifetime_s} * 1000;
}

}  // namespace tether
