// Replication of ticket writes (workflow option min_replicas_ack): WAIT on
// the connection that just wrote, counted and logged when short.
//
// Thread safety: the caller owns the Redis connection; the counter is an
// atomic and the log is rate-limited process-wide.
#pragma once
#include "redis/redis.h"
#include "workflow/definition.h"
#include "workflow/stats.h"

namespace tether::workflow {

// True when def.min_replicas_ack is 0, or WAIT found that many replicas
// with this connection's writes within def.replicas_ack_timeout_ms. False
// (counted replica_waits_short, logged with `effect`) otherwise, or when
// the connection failed.
bool replicated(Redis& redis, const Definition& def, Stats& stats, const char* effect);

}  // namespace tether::workflow
