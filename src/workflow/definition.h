// Workflow definitions: the "workflows" section of tether.json, parsed and
// checked when the worker loads. Keyed by workflow name:
//   "workflows": {"thumbs": {"start_point_url": "http://127.0.0.1:8080/steps/start?key={key}",
//                            "step_timeout_ms": 5000, "retries": 2, "backoff_ms": 100, ...}}
// Thread safety: parsed once, then immutable; read from any thread.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"

namespace tether::workflow {

struct Definition {
  std::string name;             // [A-Za-z0-9_-]{1,64}: used in URLs and Redis keys
  std::string start_point_url;  // http(s) URL; "{key}" is replaced by the ticket's key (URL-escaped)
  int step_timeout_ms = 10000;  // one HTTP attempt of one step, connect to last byte
  int retries = 2;              // more attempts after the first, per step
  int backoff_ms = 100;         // wait before retry n: backoff_ms * 2^(n-1) ...
  int backoff_max_ms = 5000;    // ... capped at this
  int max_depth = 32;           // steps in one chain; deeper fails the ticket (a cycle ends here)
  int max_steps = 256;          // steps per ticket in all
  int concurrency = 16;         // tickets one worker runs at once; 0: this worker only accepts starts
  int lease_ms = 10000;         // a ticket whose worker renewed nothing for this long is requeued
  int64_t max_body_bytes = 65536;  // largest start request body (413 beyond)
  int64_t max_incoming = 100000;   // tickets waiting in incoming; a start beyond gets 503 + Retry-After: 1
  int64_t ticket_ttl_s = 604800;   // a finished (done/failed/cancelled) ticket's hash expires after this; 0: kept
  // Replication (Redis Sentinel): a start is answered, and a taken ticket's
  // first step called, only after WAIT min_replicas_ack confirms a replica
  // has it, so a failover neither loses a ticket nor runs its step twice.
  int min_replicas_ack = 0;
  int replicas_ack_timeout_ms = 1000;
};

using Definitions = std::map<std::string, Definition>;

// section: Config::workflows (null when absent -> no workflows). file names
// the config file in errors: "<file>: field 'workflows.<name>.<field>': expected ...".
Result<Definitions> parse_definitions(const nlohmann::json& section, const std::string& file);

// url with every "{key}" replaced by key, percent-escaped.
std::string substitute_key(const std::string& url, const std::string& key);

}  // namespace tether::workflow
