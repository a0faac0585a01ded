// Redis Sentinel discovery (see sentinel.h).
#include "redis/sentinel.h"

#include "redis/redis.h"
#include "redis/reply.h"

namespace tether {

Result<HostPort> decode_master_addr(const redisReply* r) {
  if (r == nullptr || r->type == REDIS_REPLY_NIL) return Status::error("the sentinel knows no such master");
  if (r->type == REDIS_REPLY_ERROR) return Status::error("the sentinel refused: " + reply_string(r));
  ReplyView v(r);
  auto host_text = v[0].bulk();
  auto port_text = v[1].bulk();
  if (!v.array(2) || !host_text || !port_text) return Status::error("the sentinel's answer is not [host, port]");
  const std::string& host = *host_text;
  if (host.empty() || host.size() > 255) return Status::error("the sentinel named no usable host");
  for (char c : host) {
    if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f) {
      return Status::error("the sentinel named a host with a control or non-ASCII byte");
    }
  }
  auto hp = parse_host_port(host + ":" + *port_text);
  if (!hp) return Status::error("the sentinel's port: " + hp.message());
  return hp;
}

bool reply_says_master(const redisReply* r) {
  ReplyView v(r);
  auto role = v[0].bulk();
  return v.is_array() && role && *role == "master";
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
