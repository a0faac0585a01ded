// Session hand-over between workers on drain (see handover.h).
#include "worker/handover.h"

#include <algorithm>

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
  req.body = body.dump();
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
  auto j = nlohmann::json::parse(req.body, nullptr, false);
  if (!j.is_object() || !j.contains("sid") || !j["sid"].is_string()) return refuse(400, "handover: expected an envelope");
  SessionId sid;
  if (!SessionId::from_hex(j["sid"].get<std::string>(), &sid)) return refuse(400, "handover: bad session id");
  auto app = apps_.find(j.value("app", ""));
  if (app == apps_.end()) return refuse(409, "handover: no session app named " + j.value("app", std::string("?")));
  registry::Owner sender;
  if (!parse_route(from.from, &sender.host, &sender.worker)) return refuse(400, "handover: bad sender route");
  if (Status s = pool_.adopt(sid, &app->second, j); !s) return refuse(409, "handover: " + s.message());
  if (Status s = registry_.take_over(sid, sender, j.value("created", int64_t(0))); !s) {
    pool_.kill(sid);  // not ours in the registry: the sender keeps it
    return refuse(409, "handover: registry: " + s.message());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    adopted_.insert(sid);
  }
  return Response::text("adopted\n");
}

bool Handover::adopted(const SessionId& sid) const {
  std::lock_guard<std::mutex> lock(mu_);
  return adopted_.count(sid) != 0;
}

}  // namespace tether
