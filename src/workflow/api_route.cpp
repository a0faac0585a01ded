// The workflow REST API (see api_route.h).
#include "workflow/api_route.h"

#include "common/clock.h"
#include "common/firewall.h"
#include "common/json.h"
#include "workflow/replication.h"
#include "workflow/tickets.h"

namespace tether::workflow {
namespace {

// message may quote the request (its path holds any bytes): json_text replaces invalid UTF-8.
Response error(int status, const std::string& message) {
  return Response::json(json_text(nlohmann::json{{"error", message}}), status).header("Cache-Control", "no-store");
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
  auto parsed = parse_json(req.body);
  std::string why;
  const std::optional<std::string> key = parsed ? string_field(*parsed, "key") : std::nullopt;
  if (req.body.empty()) {
    why = "expected a JSON body {\"key\": \"...\", \"data\": ...}";
  } else if (!parsed) {
    why = "body: " + parsed.message();
  } else if (!parsed->is_object()) {
    why = "body: expected a JSON object {\"key\": \"...\", \"data\": ...}";
  } else if (!key || key->empty()) {
    why = "field 'key': expected a non-empty string";
  } else if (key->size() > kMaxTicketKeyBytes) {
    why = "field 'key': longer than " + std::to_string(kMaxTicketKeyBytes) + " bytes";
  }
  if (!why.empty()) {
    stats_.rejected++;
    return error(400, why);
  }
  std::string id = new_ticket_id();
  const nlohmann::json* data = field(*parsed, "data");
  auto redis = pool_->acquire();
  auto created = create_ticket(*redis, def.name, id, *key, data ? json_text(*data) : "null", unix_millis(),
                               def.max_incoming);
  if (!created) return error(503, "could not enqueue the ticket: " + created.message());
  if (*created == "full") {
    stats_.full++;
    return error(503, "workflow '" + def.name + "' already has " + std::to_string(def.max_incoming) +
                          " tickets waiting (max_incoming); try again later")
        .header("Retry-After", "1");
  }
  stats_.started++;
  (void)replicated(*redis, def, stats_, "the start is answered all the same; a failover now may lose it");
  std::string location = base + def.name + "/ticket/" + id;
  nlohmann::json body = {{"ticket", id}, {"workflow", def.name}, {"status", "enqueued"}, {"location", location}};
  return Response::json(json_text(body), 201).header("Location", location).header("Cache-Control", "no-store");
}

Response ApiRoute::ticket(Request& req, const Definition& def, const std::string& id) {
  auto redis = pool_->acquire();
  if (req.method == "DELETE") {
    auto r = cancel_ticket(*redis, def.name, id, unix_millis(), def.ticket_ttl_s);
    if (!r) return error(503, "could not cancel: " + r.message());
    if (*r == "missing") return error(404, "no ticket " + id + " in workflow '" + def.name + "'");
    if (*r != "cancelled") return error(409, "the ticket has already finished: " + r->substr(8));
    stats_.cancelled++;
    return Response::json(json_text(nlohmann::json{{"ticket", id}, {"status", "cancelled"}}))
        .header("Cache-Control", "no-store");
  }
  auto h = read_ticket(*redis, def.name, id);
  if (!h) return error(503, "could not read the ticket: " + h.message());
  if (h->what == TicketRead::kMissing) return error(404, "no ticket " + id + " in workflow '" + def.name + "'");
  if (h->what == TicketRead::kBad) {
    firewall::refused("ticket.bad_hash", def.name + " " + id + ": " + h->why);
    return error(500, "ticket " + id + " in Redis cannot be read: " + h->why);
  }
  return Response::json(json_text(ticket_json(def.name, id, h->ticket))).header("Cache-Control", "no-store");
}

}  // namespace tether::workflow
