// Redis Sentinel discovery for the one Redis client (redis.h): which node is
// the master now. hiredis has no Sentinel support; this is the small piece
// tether needs. Redis::connect asks each configured sentinel in turn
// (`SENTINEL get-master-addr-by-name <master>`), connects to the address it
// names, and keeps the connection only if the node says it is a master
// (`ROLE`): a sentinel that has not yet seen a failover, or a demoted node,
// is never written to. A `READONLY` reply later (the node was demoted)
// drops the connection, and the next call asks the sentinels again.
//
// Replies from sentinels and nodes are outside input: decoded here, a wrong
// shape is an error value naming what was expected.
// Thread safety: plain functions; ask_sentinel opens its own connection.
#pragma once
#include <hiredis/hiredis.h>

#include <string>
#include <utility>

#include "common/result.h"
#include "redis/options.h"

namespace tether {

// The reply to SENTINEL get-master-addr-by-name: an array of host and port.
// A nil reply means the sentinel knows no such master.
Result<HostPort> decode_master_addr(const redisReply* reply);
// The reply to ROLE: true when its first element is "master".
bool reply_says_master(const redisReply* reply);
// Asks one sentinel (host:port) where the master named opts.master is,
// with opts' timeouts and sentinel credentials.
Result<HostPort> ask_sentinel(const RedisOptions& opts, const std::string& sentinel);

}  // namespace tether
