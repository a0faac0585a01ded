// Builds a Site from the routes and templates of a configuration (see site.h).
#include "worker/site.h"

#include "cache/cached_route.h"
#include "common/json.h"
#include "common/log.h"
#include "http/static_files.h"
#include "ops/admin_route.h"
#include "template/template_route.h"
#include "cluster/session_route.h"
#include "workflow/api_route.h"

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

// The "cache" option of any rule: wraps its handler in a CachedRoute.
CacheWrapper cache_wrapper(const SiteParts& p, std::shared_ptr<const Templates> tpl) {
  return [&p, tpl](const std::string& kind, const nlohmann::json& option,
                   std::unique_ptr<RouteHandler> inner) -> HandlerResult {
    auto policy = parse_cache_policy(option);
    if (!policy) return policy.status();
    cache::Hook hook;
    if (!policy->hook.empty()) {
      auto found = find_named(nlohmann::json(policy->hook), p.apps.cache_hooks, "is_cacheable hook");
      if (!found) return found.status();
      hook = **found;
    } else if (kind == "session" && policy->mode != CacheMode::None) {
      return HandlerResult::error("a session rule's pages belong to one user: name an is_cacheable hook "
                                  "(\"hook\": ...) that decides who may share them");
    }
    CacheService* cache = &p.cache;
    auto finish = [cache, tpl](Response& r) { tpl->finish(r, &cache->store()); };
    return std::unique_ptr<RouteHandler>(
        new CachedRoute(std::move(inner), std::move(policy.value()), std::move(hook), p.cache, finish));
  };
}

// A session rule's "checkpoint" option (parse_checkpoint_option). Adds the rule's app to plans; two rules
// that checkpoint one app must agree on its interval.
RuleOption checkpoint_option(const SiteParts& p, std::shared_ptr<CheckpointPlanMap> plans) {
  return [&p, plans](const std::string& kind, const nlohmann::json& spec, const nlohmann::json& option) -> Status {
    if (kind != "session") return Status::error("only a session rule checkpoints (this rule is '" + kind + "')");
    auto every = parse_checkpoint_option(option);
    if (!every) return every.status();
    if (!p.config.registry) return Status::error("checkpoints are kept in Redis: add \"redis\" to the config");
    auto factory = find_named(spec, p.apps.sessions, "session app");
    if (!factory) return factory.status();
    std::string app = spec.get<std::string>();  // a string: find_named checked
    auto [it, fresh] = plans->try_emplace(*factory, CheckpointPlan{app, *every});
    if (!fresh && it->second.every_ms != *every) {
      return Status::error("app '" + app + "' checkpoints every " + std::to_string(it->second.every_ms) +
                           " ms in an earlier rule: one interval per app");
    }
    return Status::ok();
  };
}

}  // namespace

Result<int64_t> parse_checkpoint_option(const nlohmann::json& option) {
  using R = Result<int64_t>;
  if (!option.is_object()) return R::error("expected an object like {\"every_ms\": 1000}");
  for (auto& [key, v] : option.items()) {
    if (key != "every_ms") return R::error("unknown key '" + key + "' (known: every_ms)");
  }
  auto every = int_field(option, "every_ms");
  constexpr int64_t kDayMs = 86400 * 1000;
  if (!every || *every < kMinCheckpointEveryMs || *every > kDayMs) {
    return R::error("every_ms: expected an integer from " + std::to_string(kMinCheckpointEveryMs) + " to " +
                    std::to_string(kDayMs));
  }
  return *every;
}

Result<std::shared_ptr<const Site>> build_site(const Config& c, const SiteParts& p) {
  using R = Result<std::shared_ptr<const Site>>;
  auto templates = Templates::load(c.templates_dir);
  if (!templates) return R::error(c.file + ": templates: " + templates.message());
  std::shared_ptr<const Templates> tpl = templates.value();
  // Each factory runs only inside Router::build below, so capturing p by
  // reference is safe; what the handlers keep points at the worker's parts.
  std::map<std::string, RouteFactory> kinds;
  kinds["session"] = [&p](const nlohmann::json& spec) -> HandlerResult {
    auto factory = find_named(spec, p.apps.sessions, "session app");
    if (!factory) return factory.status();
    return std::unique_ptr<RouteHandler>(new SessionRoute(*factory, p.codec, p.pool, p.config, p.forwarder,
                                                            p.placement, p.handover, p.registry));
  };
  kinds["controller"] = [&p](const nlohmann::json& spec) -> HandlerResult {
    auto controller = find_named(spec, p.apps.controllers, "controller");
    if (!controller) return controller.status();
    return std::unique_ptr<RouteHandler>(new ControllerRoute(*controller));
  };
  kinds["workflow"] = [&p](const nlohmann::json& spec) {
    return workflow::ApiRoute::make(spec, p.wf_defs, p.config.registry ? &p.config.redis : nullptr, p.wf_stats);
  };
  kinds["template"] = [tpl](const nlohmann::json& spec) { return TemplateRoute::make(spec, *tpl); };
  kinds["file"] = [&c](const nlohmann::json& spec) { return StaticFiles::make(spec, c.base_dir); };
  kinds["status"] = [&p](const nlohmann::json& spec) { return StatusRoute::make(spec, p.status_sources()); };
  kinds["admin"] = [&p](const nlohmann::json& spec) {
    return AdminRoute::make(spec, p.status_sources(), p.codec);
  };
  kinds["ping"] = [](const nlohmann::json&) -> HandlerResult { return std::unique_ptr<RouteHandler>(new PingRoute); };
  auto plans = std::make_shared<CheckpointPlanMap>();
  std::map<std::string, RuleOption> options{{"checkpoint", checkpoint_option(p, plans)}};
  auto router = Router::build(c.routes, kinds, cache_wrapper(p, tpl), options);
  if (!router) return R::error(c.file + ": " + router.message());
  return std::shared_ptr<const Site>(new Site{tpl, std::move(router.value()), std::move(plans)});
}

}  // namespace tether
