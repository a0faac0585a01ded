// Session and worker entries in Redis (see entries.h).
#include "registry/entries.h"

#include "common/firewall.h"
#include "common/json.h"
#include "redis/reply.h"
#include "registry/decode.h"

namespace tether::registry {
namespace {

const char* kUpsert = R"lua(
local v = redis.call('HMGET', KEYS[1], 'host', 'worker', 'epoch')
if v[3] then
  if v[1] ~= ARGV[1] or v[2] ~= ARGV[2] or v[3] ~= ARGV[4] then return 0 end
  redis.call('HSET', KEYS[1], 'last_seen', ARGV[6])
else
  redis.call('HSET', KEYS[1], 'host', ARGV[1], 'worker', ARGV[2], 'addr', ARGV[3], 'epoch', ARGV[4],
             'created', ARGV[5], 'last_seen', ARGV[6])
end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return 1)lua";

const char* kRelease = R"lua(
local v = redis.call('HMGET', KEYS[1], 'host', 'worker', 'epoch')
if v[1] == ARGV[1] and v[2] == ARGV[2] and v[3] == ARGV[3] then return redis.call('DEL', KEYS[1]) end
return 0)lua";

// Owner and epoch compared in the one script that moves the entry.
const char* kTransfer = R"lua(
local v = redis.call('HMGET', KEYS[1], 'host', 'worker', 'epoch')
if not v[3] then return -1 end
if v[1] ~= ARGV[1] or v[2] ~= ARGV[2] or v[3] ~= ARGV[3] then return 0 end
local n = tonumber(v[3]) + 1
redis.call('HSET', KEYS[1], 'host', ARGV[4], 'worker', ARGV[5], 'addr', ARGV[6], 'epoch', n, 'last_seen', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return n)lua";

}  // namespace

const char* upsert_script() { return kUpsert; }
const char* release_script() { return kRelease; }

std::string session_key(const std::string& prefix, const SessionId& sid) { return prefix + "session:" + sid.hex(); }

std::string worker_name(const std::string& host, int worker) { return host + ":" + std::to_string(worker); }

std::vector<std::string> upsert_argv(const std::string& prefix, const SessionId& sid, const Owner& me, int64_t epoch,
                                     int64_t created_ms, int64_t now_ms, int64_t ttl_ms) {
  return {"EVAL",
          kUpsert,
          "1",
          session_key(prefix, sid),
          me.host,
          std::to_string(me.worker),
          me.addr,
          std::to_string(epoch),
          std::to_string(created_ms),
          std::to_string(now_ms),
          std::to_string(ttl_ms)};
}

void append_create(Redis& redis, const SessionId& sid, const Owner& me, int64_t created_ms, int64_t ttl_ms) {
  redis.append(upsert_argv(redis.options().prefix, sid, me, 1, created_ms, created_ms, ttl_ms));
}

void append_fresh_create(Redis& redis, const SessionId& sid, const Owner& me, int64_t created_ms, int64_t now_ms,
                         int64_t ttl_ms) {
  std::string key = session_key(redis.options().prefix, sid);
  redis.append({"HSET", key, "host", me.host, "worker", std::to_string(me.worker), "addr", me.addr, "epoch", "1",
                "created", std::to_string(created_ms), "last_seen", std::to_string(now_ms)});
  redis.append({"PEXPIRE", std::move(key), std::to_string(ttl_ms)});
}

std::vector<std::string> release_argv(const std::string& prefix, const SessionId& sid, const Owner& me,
                                      int64_t epoch) {
  return {"EVAL", kRelease, "1", session_key(prefix, sid), me.host, std::to_string(me.worker),
          std::to_string(epoch)};
}

std::vector<std::string> transfer_argv(const std::string& prefix, const SessionId& sid, const Owner& from,
                                       int64_t from_epoch, const Owner& to, int64_t now_ms, int64_t ttl_ms) {
  return {"EVAL",
          kTransfer,
          "1",
          session_key(prefix, sid),
          from.host,
          std::to_string(from.worker),
          std::to_string(from_epoch),
          to.host,
          std::to_string(to.worker),
          to.addr,
          std::to_string(now_ms),
          std::to_string(ttl_ms)};
}

Result<std::optional<SessionEntry>> read_session(Redis& redis, const SessionId& sid) {
  auto r = redis.command({"HGETALL", session_key(redis.options().prefix, sid)});
  if (!r) return r.status();
  ReplyView a(r->get());
  if (a.size() == 0) return std::optional<SessionEntry>();
  std::map<std::string, std::string> f;
  // A field or value that is not a string reads as "": decode_session refuses what it needs.
  for (size_t i = 0; i + 1 < a.size(); i += 2) {
    f[std::string(a[i].text_view().value_or(""))] = std::string(a[i + 1].text_view().value_or(""));
  }
  auto e = decode_session(f);
  if (!e) {
    firewall::refused(kBadSession, "session " + sid.hex().substr(0, 12) + ": " + e.message());
    return std::optional<SessionEntry>();  // no entry that can be read: none
  }
  return std::optional<SessionEntry>(std::move(e.value()));
}

void append_heartbeat(Redis& redis, const WorkerInfo& me, int64_t now_ms, int64_t heartbeat_ms) {
  const std::string& prefix = redis.options().prefix;
  std::string name = worker_name(me.host, me.worker);
  std::string key = prefix + "worker:" + name;
  std::vector<std::string> hset = {"HSET", key, "addr", me.addr, "pid", std::to_string(me.pid),
                                   "sessions", std::to_string(me.sessions), "accepting", me.accepting ? "1" : "0",
                                   "started", std::to_string(me.started_ms)};
  if (!me.figures.empty()) {
    hset.push_back("figures");
    hset.push_back(me.figures);
  }
  redis.append(hset);
  redis.append({"PEXPIRE", key, std::to_string(3 * heartbeat_ms)});
  redis.append({"ZADD", prefix + "workers", std::to_string(now_ms), name});
  redis.append({"ZREMRANGEBYSCORE", prefix + "workers", "-inf", "(" + std::to_string(now_ms - 10 * heartbeat_ms)});
}

Result<std::vector<WorkerInfo>> read_workers(Redis& redis, int64_t now_ms, int64_t heartbeat_ms) {
  const std::string& prefix = redis.options().prefix;
  auto names = redis.command(
      {"ZRANGEBYSCORE", prefix + "workers", std::to_string(now_ms - 3 * heartbeat_ms), "+inf", "WITHSCORES"});
  if (!names) return names.status();
  std::vector<WorkerInfo> out;
  ReplyView a(names->get());
  if (!a.is_array()) return Result<std::vector<WorkerInfo>>::error("ZRANGEBYSCORE: not an array");
  for (size_t i = 0; i + 1 < a.size(); i += 2) {
    std::string member(a[i].text_view().value_or(""));  // not a string: refused as a name below
    auto name = decode_worker_name(member);
    if (!name) {
      firewall::refused(kBadMember, name.message());
      continue;
    }
    WorkerInfo w;
    w.host = name->first;
    w.worker = name->second;
    auto score = a[i + 1].number();
    w.heartbeat_ms = score ? *score : 0;  // WITHSCORES: Redis writes the score as a string
    out.push_back(std::move(w));
    redis.append({"HMGET", prefix + "worker:" + member, "addr", "accepting", "sessions", "pid", "started"});
  }
  auto replies = redis.flush();
  if (!replies) return replies.status();
  std::vector<WorkerInfo> live;
  for (size_t i = 0; i < out.size() && i < replies->size(); ++i) {
    ReplyView h((*replies)[i].get());
    std::string name = worker_name(out[i].host, out[i].worker);
    if (!h.array(5)) {
      firewall::refused(kBadHeartbeat, name + ": not a hash (" + utf8_or_replaced(reply_string(h.raw())) + ")");
      continue;
    }
    if (h[0].is_nil()) continue;  // expired meanwhile: gone, not hostile
    std::string values[5];
    for (size_t k = 0; k < 5; ++k) values[k] = reply_string(h[k].raw());
    auto w = decode_heartbeat(out[i].host, out[i].worker, values);
    if (!w) {
      firewall::refused(kBadHeartbeat, name + ": " + w.message());
      continue;
    }
    w->heartbeat_ms = out[i].heartbeat_ms;
    live.push_back(std::move(w.value()));
  }
  return live;
}

}  // namespace tether::registry
