// The workflow REST API (see api_route.h).
#include "workflow/api_route.h"

#include "common/clock.h"
#include "workflow/tickets.h"

namespace tether::workflow {
namespace {

constexpr size_t kMaxKeyBytes = 1024;

Response error(int status, const std::string& message) {
  return Response::json(nlohmann::json{{"error", message}}.dump(), status).header("Cache-Control", "no-store");
}

// Splits "{base}{name}/start" or "{base}{name}/ticket/{id}".
struct ApiPath {
  std::string base, name, action, ticket;
};

bool split_path(const std::string& path, ApiPath* out) {
  std::string rest;
  if (path.size() > 6 && path.compare(path.size() - 6, 6, "/start") == 0) {
    out->action = "start";
    rest = path.substr(0, path.size() - 6);
  } else if (size_t t = path.rfind("/ticket/"); t != std::string::npos && t > 0) {
    out->action = "ticket";
    out->ticket = path.substr(t + 8);
    rest = path.substr(0, t);
  } else {
    return false;
  }
  size_t slash = rest.rfind('/');
  if (slash == std::string::npos || slash + 1 == rest.size()) return false;
  out->base = rest.substr(0, slash + 1);
  out->name = rest.substr(slash + 1);
  return true;
}

}  // namespace

ApiRoute::ApiRoute(const Definitions& defs, const RedisOptions* redis, Stats& stats) : defs_(defs), stats_(stats) {
  if (redis != nullptr) pool_ = std::make_unique<RedisPool>(*redis);
}

Result<std::unique_ptr<RouteHandler>> ApiRoute::make(const nlohmann::json& spec, const Definitions& defs,
                                                     const RedisOptions* redis, Stats& stats) {
  if (!spec.is_object() || !spec.empty()) {
    return Result<std::unique_ptr<RouteHandler>>::error("expected {} (the workflows come from \"workflows\")");
  }
  return std::unique_ptr<RouteHandler>(new ApiRoute(defs, redis, stats));
}

Response ApiRoute::serve(Request& req, const RouteMatch& /*match*/) {
  ApiPath p;
  if (!split_path(req.path, &p)) {
    return error(404, "expected {base}/{workflow}/start or {base}/{workflow}/ticket/{ticket}");
  }
  auto it = defs_.find(p.name);
  if (it == defs_.end()) {
    if (p.action == "start") stats_.rejected++;
    return error(404, "no workflow named '" + p.name + "'");
  }
  if (!pool_) return error(503, "workflows need a \"redis\" object in tether.json");
  if (p.action == "start") {
    if (req.method != "POST") return error(405, "use POST to start a ticket").header("Allow", "POST");
    return start(req, it->second, p.base);
  }
  if (req.method != "GET" && req.method != "DELETE") {
    return error(405, "use GET or DELETE on a ticket").header("Allow", "GET, DELETE");
  }
  if (!is_ticket_id(p.ticket)) return error(400, "ticket: expected a UUID, got '" + p.ticket + "'");
  return ticket(req, it->second, p.ticket);
}

Response ApiRoute::start(Request& req, const Definition& def, const std::string& base) {
  if (static_cast<int64_t>(req.body.size()) > def.max_body_bytes) {
    stats_.rejected++;
    return error(413, "body larger than " + std::to_string(def.max_body_bytes) + " bytes");
  }
  auto j = nlohmann::json::parse(req.body, nullptr, false);
  std::string why;
  if (req.body.empty()) {
    why = "expected a JSON body {\"key\": \"...\", \"data\": ...}";
  } else if (j.is_discarded()) {
    why = "body is not valid JSON";
  } else if (!j.is_object()) {
    why = "body: expected a JSON object {\"key\": \"...\", \"data\": ...}";
  } else if (!j.contains("key") || !j["key"].is_string() || j["key"].get_ref<const std::string&>().empty()) {
    why = "field 'key': expected a non-empty string";
  } else if (j["key"].get_ref<const std::string&>().size() > kMaxKeyBytes) {
    why = "field 'key': longer than " + std::to_string(kMaxKeyBytes) + " bytes";
  }
  if (!why.empty()) {
    stats_.rejected++;
    return error(400, why);
  }
  std::string id = new_ticket_id();
  std::string key = j["key"].get<std::string>();
  std::string data = j.contains("data") ? j["data"].dump() : "null";
  auto redis = pool_->acquire();
  if (Status s = create_ticket(*redis, def.name, id, key, data, unix_millis()); !s) {
    return error(503, "could not enqueue the ticket: " + s.message());
  }
  stats_.started++;
  std::string location = base + def.name + "/ticket/" + id;
  nlohmann::json body = {{"ticket", id}, {"workflow", def.name}, {"status", "enqueued"}, {"location", location}};
  return Response::json(body.dump(), 201).header("Location", location).header("Cache-Control", "no-store");
}

Response ApiRoute::ticket(Request& req, const Definition& def, const std::string& id) {
  auto redis = pool_->acquire();
  if (req.method == "DELETE") {
    auto r = cancel_ticket(*redis, def.name, id, unix_millis());
    if (!r) return error(503, "could not cancel: " + r.message());
    if (*r == "missing") return error(404, "no ticket " + id + " in workflow '" + def.name + "'");
    if (*r != "cancelled") return error(409, "the ticket has already finished: " + r->substr(8));
    stats_.cancelled++;
    return Response::json(nlohmann::json{{"ticket", id}, {"status", "cancelled"}}.dump())
        .header("Cache-Control", "no-store");
  }
  auto h = read_ticket(*redis, def.name, id);
  if (!h) return error(503, "could not read the ticket: " + h.message());
  if (!*h) return error(404, "no ticket " + id + " in workflow '" + def.name + "'");
  return Response::json(ticket_json(def.name, id, **h).dump()).header("Cache-Control", "no-store");
}

}  // namespace tether::workflow
