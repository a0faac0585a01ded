// Site: what SIGHUP replaces as a whole (the dispatch rules and the
// templates), and how a Config's routes and templates_dir become one.
// Thread ownership: a Site is immutable once built; the worker swaps whole
// Sites under a mutex and each request keeps the one it started with. The
// parts a Site's rules point into (SiteParts) belong to the worker and
// outlive every Site.
#pragma once
#include <functional>
#include <memory>

#include "cache/service.h"
#include "common/result.h"
#include "config/config.h"
#include "http/router.h"
#include "session/pool.h"
#include "template/templates.h"
#include "token/token.h"
#include "cluster/forwarder.h"
#include "cluster/handover.h"
#include "cluster/placement.h"
#include "ops/status_route.h"
#include "worker/worker.h"
#include "workflow/definition.h"
#include "workflow/stats.h"

namespace tether {

struct Site {
  std::shared_ptr<const Templates> templates;
  Router router;
  // The session apps its rules checkpoint ("checkpoint": {"every_ms": N});
  // installed in the worker's CheckpointPlans with the Site.
  std::shared_ptr<const CheckpointPlanMap> checkpoints;
};

// The worker's long-lived pieces that rules are built on.
struct SiteParts {
  const Config& config;  // the start-up configuration: session rules read it
  const AppRegistry& apps;
  const TokenCodec& codec;
  SessionPool& pool;
  Forwarder& forwarder;
  Placement& placement;
  Handover* handover;  // null without Redis
  Registry* registry;  // null without Redis
  const workflow::Definitions& wf_defs;
  workflow::Stats& wf_stats;
  CacheService& cache;
  std::function<StatusSources()> status_sources;
};

// A session rule's "checkpoint" option: {"every_ms": N}, N from
// kMinCheckpointEveryMs to a day; the interval, or what was expected.
Result<int64_t> parse_checkpoint_option(const nlohmann::json& option);

// Builds the rules and templates of c (its routes and templates_dir; the
// rest of c is not read). The error names the file.
Result<std::shared_ptr<const Site>> build_site(const Config& c, const SiteParts& parts);

}  // namespace tether
