// Session hand-over between workers on drain (see handover.h).
#include "worker/handover.h"

#include <algorithm>

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
  req.body = json_text(body);  // invalid UTF-8 in the app's state travels as U+FFFD
  size_t n = local > 0 ? local : targets.size();
  if (n == 0 && log::every(no_target_log_, 1000)) {
    log::warn("handover_no_target", {{"effect", "sessions stay and end drained"}, {"workers_known", dir->size()}});
  }
  for (size_t attempt = 0; attempt < std::min<size_t>(n, 2); ++attempt) {
    const registry::WorkerInfo* to = targets[(turn_++) % n];
    auto r = forwarder_.call(to->addr, req, "");
    if (r.kind == fcgi::CallResult::Kind::Ok && r.response.status == 200) return to->addr;
    log::warn("handover_refused", {{"session", sid.hex().substr(0, 12)},
                                   {"to", make_route(to->host, to->worker)},
                                   {"status", r.kind == fcgi::CallResult::Kind::Ok ? r.response.status : 0},
                                   {"error", r.kind == fcgi::CallResult::Kind::Ok ? r.response.body : r.error}});
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
  const nlohmann::json& j = *envelope;
  SessionId sid;
  SessionId::from_hex(*string_field(j, "sid"), &sid);
  std::string app_name = *string_field(j, "app");
  auto app = apps_.find(app_name);
  if (app == apps_.end()) return refuse(409, "handover: no session app named " + utf8_or_replaced(app_name));
  registry::Owner sender;
  if (!parse_route(from.from, &sender.host, &sender.worker)) return refuse(400, "handover: bad sender route");
  if (Status s = pool_.adopt(sid, &app->second, j); !s) return refuse(409, "handover: " + s.message());
  if (Status s = registry_.take_over(sid, sender, int_field(j, "epoch").value_or(0), int_field(j, "created").value_or(0)); !s) {
    pool_.kill(sid);  // not ours in the registry: the sender keeps it
    return refuse(409, "handover: registry: " + s.message());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    adopted_.insert(sid);
  }
  return Response::text("adopted\n");
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
  if (!field(j, "state")) return R::error("envelope: state: missing");
  return parsed;
}

bool Handover::adopted(const SessionId& sid) const {
  std::lock_guard<std::mutex> lock(mu_);
  return adopted_.count(sid) != 0;
}

}  // namespace tether
