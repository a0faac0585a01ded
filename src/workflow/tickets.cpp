// Tickets in Redis (see tickets.h).
#include "workflow/tickets.h"

#include <sodium.h>

#include <algorithm>

namespace tether::workflow {
namespace {

// KEYS hash, lease, processing. ARGV ticket, token, lease_ms, worker, now.
const char* kTake = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('LREM', KEYS[3], 0, ARGV[1]) return 'gone' end
local st = redis.call('HGET', KEYS[1], 'status.current')
if st == 'done' or st == 'failed' or st == 'cancelled' then
  redis.call('LREM', KEYS[3], 0, ARGV[1]) return st
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
local old = {}
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, 5) == 'step.' or f == 'steps' or f == 'error' then old[#old + 1] = f end
end
if #old > 0 then redis.call('HDEL', KEYS[1], unpack(old)) end
redis.call('HSET', KEYS[1], 'status.current', 'dispatched', 'status.dispatched.time', ARGV[5], 'worker', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'runs', 1)
return 'ok')lua";

// KEYS lease, hash. ARGV token, lease_ms.
const char* kRenew = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'lost' end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('HGET', KEYS[2], 'status.current') or 'gone')lua";

// KEYS hash, lease, processing. ARGV ticket, token, status, now, error, run_us.
const char* kFinish = R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 'lost' end
redis.call('DEL', KEYS[2])
redis.call('LREM', KEYS[3], 0, ARGV[1])
if redis.call('HGET', KEYS[1], 'status.current') == 'cancelled' then return 'cancelled' end
redis.call('HSET', KEYS[1], 'status.current', ARGV[3], 'status.' .. ARGV[3] .. '.time', ARGV[4], 'run_us', ARGV[6])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[5]) end
redis.call('HINCRBY', KEYS[1], 'finished', 1)
return 'ok')lua";

// KEYS hash, lease, processing, incoming. ARGV ticket, now.
const char* kReap = R"lua(
if redis.call('EXISTS', KEYS[2]) == 1 then return 'alive' end
if redis.call('LREM', KEYS[3], 1, ARGV[1]) == 0 then return 'gone' end
local st = redis.call('HGET', KEYS[1], 'status.current')
if not st then return 'gone' end
if st == 'done' or st == 'failed' or st == 'cancelled' then return 'cleaned' end
redis.call('HSET', KEYS[1], 'status.current', 'enqueued', 'status.enqueued.time', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'requeued', 1)
redis.call('RPUSH', KEYS[4], ARGV[1])
return 'requeued')lua";

// KEYS hash, incoming. ARGV ticket, now.
const char* kCancel = R"lua(
local st = redis.call('HGET', KEYS[1], 'status.current')
if not st then return 'missing' end
if st == 'done' or st == 'failed' or st == 'cancelled' then return 'refused:' .. st end
redis.call('HSET', KEYS[1], 'status.current', 'cancelled', 'status.cancelled.time', ARGV[2])
redis.call('LREM', KEYS[2], 0, ARGV[1])
return 'cancelled')lua";

// KEYS hash, incoming, lease. ARGV ticket, now.
const char* kRetry = R"lua(
local st = redis.call('HGET', KEYS[1], 'status.current')
if not st then return 'missing' end
if st ~= 'failed' and st ~= 'cancelled' then return 'refused:' .. st end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'refused:stopping' end
redis.call('HSET', KEYS[1], 'status.current', 'enqueued', 'status.enqueued.time', ARGV[2])
redis.call('HDEL', KEYS[1], 'error')
redis.call('LPUSH', KEYS[2], ARGV[1])
return 'enqueued')lua";

Result<std::string> eval(Redis& redis, const char* script, std::vector<std::string> keys,
                         std::vector<std::string> args) {
  std::vector<std::string> argv{"EVAL", script, std::to_string(keys.size())};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = redis.command(argv);
  if (!r) return r.status();
  return reply_string(r->get());
}

std::string base(const std::string& prefix, const std::string& name) { return prefix + "wf:" + name + ":"; }

}  // namespace

std::string incoming_key(const std::string& prefix, const std::string& name) {
  return base(prefix, name) + "queue:incoming";
}
std::string processing_key(const std::string& prefix, const std::string& name) {
  return base(prefix, name) + "queue:processing";
}
std::string ticket_key(const std::string& prefix, const std::string& name, const std::string& ticket) {
  return base(prefix, name) + "ticket:" + ticket;
}
std::string lease_key(const std::string& prefix, const std::string& name, const std::string& ticket) {
  return base(prefix, name) + "lease:" + ticket;
}

std::string new_ticket_id() {
  unsigned char b[16];
  randombytes_buf(b, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[b[i] >> 4];
    out += hex[b[i] & 15];
  }
  return out;
}

bool is_ticket_id(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

bool is_final(const std::string& s) { return s == "done" || s == "failed" || s == "cancelled"; }

Status create_ticket(Redis& redis, const std::string& name, const std::string& ticket, const std::string& key,
                     const std::string& data_json, int64_t now_ms) {
  const std::string& p = redis.options().prefix;
  redis.append({"MULTI"});
  redis.append({"HSET", ticket_key(p, name, ticket), "payload.key", key, "payload.data", data_json,
                "status.current", "enqueued", "status.enqueued.time", std::to_string(now_ms)});
  redis.append({"LPUSH", incoming_key(p, name), ticket});
  redis.append({"EXEC"});
  auto replies = redis.flush();
  if (!replies) return replies.status();
  const redisReply* exec = replies->back().get();
  if (exec == nullptr || exec->type != REDIS_REPLY_ARRAY) {
    return Status::error("redis refused the ticket: " + reply_string(exec));
  }
  return Status::ok();
}

Result<std::string> take_ticket(Redis& redis, const std::string& name, const std::string& ticket,
                                const std::string& token, int lease_ms, const std::string& worker, int64_t now_ms) {
  const std::string& p = redis.options().prefix;
  return eval(redis, kTake, {ticket_key(p, name, ticket), lease_key(p, name, ticket), processing_key(p, name)},
              {ticket, token, std::to_string(lease_ms), worker, std::to_string(now_ms)});
}

void append_renew(Redis& redis, const std::string& name, const std::string& ticket, const std::string& token,
                  int lease_ms) {
  const std::string& p = redis.options().prefix;
  redis.append({"EVAL", kRenew, "2", lease_key(p, name, ticket), ticket_key(p, name, ticket), token,
                std::to_string(lease_ms)});
}

Result<std::string> finish_ticket(Redis& redis, const std::string& name, const std::string& ticket,
                                  const std::string& token, const std::string& status, const std::string& error,
                                  int64_t run_us, int64_t now_ms) {
  const std::string& p = redis.options().prefix;
  return eval(redis, kFinish, {ticket_key(p, name, ticket), lease_key(p, name, ticket), processing_key(p, name)},
              {ticket, token, status, std::to_string(now_ms), error, std::to_string(run_us)});
}

Result<std::string> reap_ticket(Redis& redis, const std::string& name, const std::string& ticket, int64_t now_ms) {
  const std::string& p = redis.options().prefix;
  return eval(redis, kReap,
              {ticket_key(p, name, ticket), lease_key(p, name, ticket), processing_key(p, name),
               incoming_key(p, name)},
              {ticket, std::to_string(now_ms)});
}

Result<std::string> cancel_ticket(Redis& redis, const std::string& name, const std::string& ticket,
                                  int64_t now_ms) {
  const std::string& p = redis.options().prefix;
  return eval(redis, kCancel, {ticket_key(p, name, ticket), incoming_key(p, name)}, {ticket, std::to_string(now_ms)});
}

Result<std::string> retry_ticket(Redis& redis, const std::string& name, const std::string& ticket, int64_t now_ms) {
  const std::string& p = redis.options().prefix;
  return eval(redis, kRetry, {ticket_key(p, name, ticket), incoming_key(p, name), lease_key(p, name, ticket)},
              {ticket, std::to_string(now_ms)});
}

Result<std::optional<std::map<std::string, std::string>>> read_ticket(Redis& redis, const std::string& name,
                                                                       const std::string& ticket) {
  auto r = redis.command({"HGETALL", ticket_key(redis.options().prefix, name, ticket)});
  if (!r) return r.status();
  std::map<std::string, std::string> out;
  const redisReply* a = r->get();
  for (size_t i = 0; a->type == REDIS_REPLY_ARRAY && i + 1 < a->elements; i += 2) {
    out[reply_string(a->element[i])] = reply_string(a->element[i + 1]);
  }
  if (out.empty()) return std::optional<std::map<std::string, std::string>>();
  return std::optional<std::map<std::string, std::string>>(std::move(out));
}

namespace {

nlohmann::json json_or_text(const std::string& s) {
  auto j = nlohmann::json::parse(s, nullptr, false);
  return j.is_discarded() ? nlohmann::json(s) : j;
}

int64_t to_int(const std::string& s) { return std::strtoll(s.c_str(), nullptr, 10); }

}  // namespace

nlohmann::json ticket_json(const std::string& name, const std::string& ticket,
                           const std::map<std::string, std::string>& h) {
  auto get = [&](const std::string& f) {
    auto it = h.find(f);
    return it == h.end() ? std::string() : it->second;
  };
  nlohmann::json j;
  j["ticket"] = ticket;
  j["workflow"] = name;
  j["key"] = get("payload.key");
  j["data"] = json_or_text(get("payload.data"));
  j["status"] = get("status.current");
  j["times"] = nlohmann::json::object();
  j["worker"] = get("worker");
  j["runs"] = to_int(get("runs"));
  j["requeued"] = to_int(get("requeued"));
  j["finished"] = to_int(get("finished"));
  if (h.count("error")) j["error"] = get("error");
  if (h.count("run_us")) j["run_us"] = to_int(get("run_us"));
  int64_t steps = to_int(get("steps"));
  j["steps"] = nlohmann::json::array();
  for (auto& [f, v] : h) {
    if (f.rfind("status.", 0) == 0 && f.size() > 12 && f.compare(f.size() - 5, 5, ".time") == 0) {
      j["times"][f.substr(7, f.size() - 12)] = to_int(v);
    }
  }
  for (int64_t i = 0; i < steps; ++i) {
    std::string s = "step." + std::to_string(i) + ".";
    nlohmann::json step = {{"name", get(s + "name")},
                           {"url", get(s + "url")},
                           {"status", get(s + "status")},
                           {"data", json_or_text(get(s + "data"))},
                           {"attempts", to_int(get(s + "attempts"))},
                           {"depth", to_int(get(s + "depth"))},
                           {"http_us", to_int(get(s + "http_us"))}};
    if (h.count(s + "error")) step["error"] = get(s + "error");
    j["steps"].push_back(std::move(step));
  }
  return j;
}

}  // namespace tether::workflow
