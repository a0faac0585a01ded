// Fleet: every live worker's status figures, read from the heartbeat hashes
// in Redis ({prefix}worker:{host}:{n}, field "figures": the worker's status
// JSON, written with each heartbeat). Used by the status rule's host-wide
// scope, the admin page and `tetherctl status`.
//
// Everything read is decoded (registry/decode.h, registry/figures.h): a
// directory entry or heartbeat hash that cannot be decoded leaves that
// worker out (counted by read_workers); figures that cannot be decoded are
// counted as "heartbeat.bad_figures" and that worker is left out too.
//
// Thread safety: functions over a Redis connection the caller owns.
#pragma once
#include <string>
#include <vector>

#include "registry/figures.h"
#include "redis/redis.h"

namespace tether::fleet {

// The figures of live workers (heartbeat within 3 x heartbeat_ms), of one
// host when host is not empty; a worker without figures gets those the
// directory has (host, worker, pid, sessions live). Sorted by host, worker.
Result<std::vector<registry::Figures>> read(Redis& redis, int64_t heartbeat_ms, const std::string& host = "");

}  // namespace tether::fleet
