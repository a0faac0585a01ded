// Metrics: a worker's status figures (the JSON of the status rule) in the
// other formats operators read: plain "name: value" lines like php-fpm's
// pm.status_path, and the Prometheus text exposition format 0.0.4 (metric
// names tether_*, HELP and TYPE lines, labels host and worker, sessions
// ended by reason as a label). Also the sum of several workers' figures for
// the host-wide view. The writers take decoded figures only
// (registry::Figures: well typed, valid UTF-8, bounded depth), never the
// JSON read from Redis.
//
// Thread safety: pure functions; any thread.
#pragma once
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "registry/figures.h"

namespace tether::metrics {

enum class Format { Json, Text, Prometheus };

// "json" (or ""), "text", "prometheus"; anything else is an error naming them.
Result<Format> parse_format(const std::string& name);
// The content type of each format.
const char* content_type(Format f);

// One figure per line, "sessions live: 3"; nested objects joined by spaces.
std::string to_text(const nlohmann::json& status);

// Every numeric and boolean figure of each worker's status object (each has
// "host" and "worker"), grouped by metric: one HELP and TYPE line per metric,
// then one sample per worker.
std::string to_prometheus(const std::vector<registry::Figures>& workers);

// The figures of several workers added up (numbers summed, booleans counted
// as 0/1, "started" the earliest); strings that differ are dropped.
nlohmann::json sum(std::span<const registry::Figures> workers);
// The same over status JSON objects, each decoded first (Figures::own);
// those that do not decode are left out.
nlohmann::json sum(const std::vector<nlohmann::json>& workers);

}  // namespace tether::metrics
