// Reading and judging Redis' persistence settings (see redis_persistence.h).
#include "journal/redis_persistence.h"

#include "common/firewall.h"
#include "common/json.h"
#include "redis/reply.h"

namespace tether::journal {
namespace {

// The value of a CONFIG GET name reply: [name, value] (RESP2, all this hiredis
// speaks). Error text when the reply is an error or of another shape.
Result<std::string> config_value(const redisReply* r, const std::string& name, bool& refused) {
  using R = Result<std::string>;
  if (r == nullptr) return R::error("no reply to CONFIG GET " + name);
  if (r->type == REDIS_REPLY_ERROR) {
    refused = true;
    return R::error("CONFIG GET " + name + " refused: " + utf8_or_replaced(std::string(r->str, r->len)).substr(0, 200));
  }
  ReplyView v(r);
  auto key = v[0].bulk();
  auto value = v[1].bulk();
  if (!v.array(2) || !key || !value || *key != name) {
    return R::error("CONFIG GET " + name + ": expected [\"" + name + "\", value]");
  }
  return std::move(value.value());
}

}  // namespace

const char* to_string(RedisAof a) {
  switch (a) {
    case RedisAof::Unchecked:
      return "unchecked";
    case RedisAof::Off:
      return "off";
    case RedisAof::No:
      return "appendfsync no";
    case RedisAof::Everysec:
      return "appendfsync everysec";
    case RedisAof::Always:
      return "appendfsync always";
    case RedisAof::Unknown:
      return "unknown";
  }
  return "?";
}

Persistence decode_persistence(const redisReply* appendonly, const redisReply* appendfsync) {
  bool refused = false;
  auto bad = [&](const std::string& why) {
    if (!refused) firewall::refused("journal.bad_config_reply", why);
    return Persistence{RedisAof::Unknown, why};
  };
  auto on = config_value(appendonly, "appendonly", refused);
  if (!on) return bad(on.message());
  if (*on == "no") return Persistence{RedisAof::Off, ""};
  if (*on != "yes") return bad("appendonly: expected yes or no, got " + utf8_or_replaced(on->substr(0, 40)));
  auto fsync = config_value(appendfsync, "appendfsync", refused);
  if (!fsync) return bad(fsync.message());
  if (*fsync == "always") return Persistence{RedisAof::Always, ""};
  if (*fsync == "everysec") return Persistence{RedisAof::Everysec, ""};
  if (*fsync == "no") return Persistence{RedisAof::No, ""};
  return bad("appendfsync: expected always, everysec or no, got " + utf8_or_replaced(fsync->substr(0, 40)));
}

Result<Persistence> read_persistence(Redis& redis) {
  redis.append({"CONFIG", "GET", "appendonly"});
  redis.append({"CONFIG", "GET", "appendfsync"});
  auto r = redis.flush();
  if (!r) return r.status();
  if (r->size() != 2) return Status::error("redis: CONFIG GET: a reply is missing (reconnected meanwhile?)");
  return decode_persistence((*r)[0].get(), (*r)[1].get());
}

}  // namespace tether::journal
