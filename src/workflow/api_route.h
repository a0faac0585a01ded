// The "workflow" rule kind: the REST API of workflows.
//   POST   {base}{name}/start            {"key": "...", "data": <any>} -> 201, Location: {base}{name}/ticket/{id}
//   GET    {base}{name}/ticket/{ticket}  -> 200, the ticket as JSON (see tickets.h ticket_json)
//   DELETE {base}{name}/ticket/{ticket}  -> 200 cancelled; 409 when it has already finished
// {base} is whatever the rule matched before the name, e.g. "/api/workflow/".
// Errors are JSON {"error": "..."} (any bytes of the path quoted in them are
// written as valid UTF-8, U+FFFD for invalid sequences): 404 unknown workflow
// or ticket, 400 bad JSON (or nested deeper than kMaxJsonDepth) / missing key /
// malformed ticket id, 413 body too large, 405 wrong method, 503 Redis
// unreachable, 503 + Retry-After: 1 when the workflow's incoming queue
// already holds max_incoming tickets, 500 when the ticket hash in Redis does
// not decode (counted as "ticket.bad_hash"). Rule: {"match": "^/api/workflow/", "workflow": {}}.
//
// Thread safety: serve() from any acceptor thread; Redis connections come
// from a pool, the definitions are immutable, the figures atomic.
#pragma once
#include <memory>

#include "http/router.h"
#include "redis/pool.h"
#include "workflow/definition.h"
#include "workflow/stats.h"

namespace tether::workflow {

class ApiRoute final : public RouteHandler {
 public:
  // redis: null when tether.json has no "redis" (then every call is 503).
  static Result<std::unique_ptr<RouteHandler>> make(const nlohmann::json& spec, const Definitions& defs,
                                                    const RedisOptions* redis, Stats& stats);
  Response serve(Request& req, const RouteMatch& match) override;

 private:
  ApiRoute(const Definitions& defs, const RedisOptions* redis, Stats& stats);
  Response start(Request& req, const Definition& def, const std::string& base);
  Response ticket(Request& req, const Definition& def, const std::string& id);

  const Definitions& defs_;
  std::unique_ptr<RedisPool> pool_;
  Stats& stats_;
};

}  // namespace tether::workflow
