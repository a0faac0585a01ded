// Redis Sentinel discovery (see sentinel.h).
#include "redis/sentinel.h"

#include "redis/redis.h"

namespace tether {

Result<HostPort> decode_master_addr(const redisReply* r) {
  if (r == nullptr || r->type == REDIS_REPLY_NIL) return Status::error("the sentinel knows no such master");
  if (r->type == REDIS_REPLY_ERROR) return Status::error("the sentinel refused: " + reply_string(r));
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
      r->element[1]->type != REDIS_REPLY_STRING) {
    return Status::error("the sentinel's answer is not [host, port]");
  }
  std::string host = reply_string(r->element[0]);
  if (host.empty() || host.size() > 255) return Status::error("the sentinel named no usable host");
  for (char c : host) {
    if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f) {
      return Status::error("the sentinel named a host with a control or non-ASCII byte");
    }
  }
  auto hp = parse_host_port(host + ":" + reply_string(r->element[1]));
  if (!hp) return Status::error("the sentinel's port: " + hp.message());
  return hp;
}

bool reply_says_master(const redisReply* r) {
  return r != nullptr && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
         r->element[0]->type == REDIS_REPLY_STRING && reply_string(r->element[0]) == "master";
}

Result<HostPort> ask_sentinel(const RedisOptions& opts, const std::string& sentinel) {
  auto where = parse_host_port(sentinel);
  if (!where) return where.status();
  RedisOptions s;
  s.host = where->host;
  s.port = where->port;
  s.username = opts.sentinel_username;
  s.password = opts.sentinel_password;
  s.connect_timeout_ms = opts.connect_timeout_ms;
  s.io_timeout_ms = opts.io_timeout_ms;
  Redis conn(s);  // no sentinels of its own: a plain connection
  auto r = conn.command({"SENTINEL", "get-master-addr-by-name", opts.master});
  if (!r) return r.status();
  return decode_master_addr(r->get());
}

}  // namespace tether
