// Tickets in Redis (see tickets.h).
#include "workflow/tickets.h"

#include <sodium.h>

#include <algorithm>

namespace tether::workflow {
namespace {

// KEYS hash, incoming. ARGV ticket, key, data, now, max_incoming.
const char* kCreate = R"lua(
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[5]) then return 'full' end
redis.call('HSET', KEYS[1], 'payload.key', ARGV[2], 'payload.data', ARGV[3],
           'status.current', 'enqueued', 'status.enqueued.time', ARGV[4])
redis.call('LPUSH', KEYS[2], ARGV[1])
return 'ok')lua";

// Lua: a ticket hash (KEYS[1]) whose counters HINCRBY would refuse (anyone
// can write "many" there) is failed with the reason before anything else
// changes: a script stopped by an error midway keeps what it wrote, and the
// ticket would go round processing -> reaped -> taken for ever.
const std::string kBadCounter = R"lua(
local function fail_bad_counter(now)
  for _, f in ipairs({'runs', 'finished', 'requeued'}) do
    local v = redis.call('HGET', KEYS[1], f)
    if v and (#v > 18 or not string.match(v, '^-?%d+$')) then
      redis.call('HSET', KEYS[1], 'status.current', 'failed', 'status.failed.time', now,
                 'error', 'the ticket hash does not decode: ' .. f .. ' is no integer')
      return 'bad hash: ' .. f .. ' is no integer'
    end
  end
  return nil
end
)lua";

// KEYS hash, lease, processing. ARGV ticket, token, lease_ms, worker, now.
const std::string kTake = kBadCounter + R"lua(
local ty = redis.call('TYPE', KEYS[1]).ok
if ty == 'none' then redis.call('LREM', KEYS[3], 0, ARGV[1]) return 'gone' end
if ty ~= 'hash' then redis.call('LREM', KEYS[3], 0, ARGV[1]) return 'not a hash' end
local st = redis.call('HGET', KEYS[1], 'status.current')
if st == 'done' or st == 'failed' or st == 'cancelled' then
  redis.call('LREM', KEYS[3], 0, ARGV[1]) return st
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then redis.call('LREM', KEYS[3], 1, ARGV[1]) return 'leased' end
local bad = fail_bad_counter(ARGV[5])
if bad then redis.call('LREM', KEYS[3], 0, ARGV[1]) return bad end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
local old = {}
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, 5) == 'step.' or f == 'steps' or f == 'error' then old[#old + 1] = f end
end
if #old > 0 then redis.call('HDEL', KEYS[1], unpack(old)) end
redis.call('HSET', KEYS[1], 'status.current', 'dispatched', 'status.dispatched.time', ARGV[5], 'worker', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'runs', 1)
return 'ok')lua";

// KEYS hash, lease. ARGV token, steps, field, value, ...
const char* kRecord = R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'lost' end
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 'gone' end
local f = {}
for i = 3, #ARGV do f[#f + 1] = ARGV[i] end
f[#f + 1] = 'steps'
f[#f + 1] = ARGV[2]
redis.call('HSET', KEYS[1], unpack(f))
return 'ok')lua";

// KEYS hash, lease. ARGV token, now.
const char* kMarkRunning = R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'lost' end
local st = redis.call('HGET', KEYS[1], 'status.current')
if st ~= 'dispatched' then return st or 'gone' end
redis.call('HSET', KEYS[1], 'status.current', 'running', 'status.running.time', ARGV[2])
return 'ok')lua";

// KEYS lease. ARGV token.
const char* kHolds = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return 'ok' end
return 'lost')lua";

// KEYS lease, hash. ARGV token, lease_ms.
const char* kRenew = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'lost' end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('HGET', KEYS[2], 'status.current') or 'gone')lua";

// KEYS hash, lease, processing. ARGV ticket, token, status, now, error, run_us, ttl_s.
const char* kFinish = R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 'lost' end
redis.call('DEL', KEYS[2])
redis.call('LREM', KEYS[3], 0, ARGV[1])
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 'gone' end
if redis.call('HGET', KEYS[1], 'status.current') == 'cancelled' then return 'cancelled' end
redis.call('HSET', KEYS[1], 'status.current', ARGV[3], 'status.' .. ARGV[3] .. '.time', ARGV[4], 'run_us', ARGV[6])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[5]) end
redis.call('HINCRBY', KEYS[1], 'finished', 1)
if tonumber(ARGV[7]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[7]) end
return 'ok')lua";

// KEYS hash, lease, processing, incoming. ARGV ticket, now.
const std::string kReap = kBadCounter + R"lua(
if redis.call('EXISTS', KEYS[2]) == 1 then return 'alive' end
if redis.call('LREM', KEYS[3], 1, ARGV[1]) == 0 then return 'gone' end
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 'gone' end
local st = redis.call('HGET', KEYS[1], 'status.current')
if not st then return 'gone' end
if st == 'done' or st == 'failed' or st == 'cancelled' then return 'cleaned' end
local bad = fail_bad_counter(ARGV[2])
if bad then return bad end
redis.call('HSET', KEYS[1], 'status.current', 'enqueued', 'status.enqueued.time', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'requeued', 1)
redis.call('RPUSH', KEYS[4], ARGV[1])
return 'requeued')lua";

// KEYS hash, incoming. ARGV ticket, now, ttl_s.
const char* kCancel = R"lua(
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 'missing' end
local st = redis.call('HGET', KEYS[1], 'status.current')
if not st then return 'missing' end
if st == 'done' or st == 'failed' or st == 'cancelled' then return 'refused:' .. st end
redis.call('HSET', KEYS[1], 'status.current', 'cancelled', 'status.cancelled.time', ARGV[2])
redis.call('LREM', KEYS[2], 0, ARGV[1])
if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return 'cancelled')lua";

// KEYS hash, incoming, lease. ARGV ticket, now.
const char* kRetry = R"lua(
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 'missing' end
local st = redis.call('HGET', KEYS[1], 'status.current')
if not st then return 'missing' end
if st ~= 'failed' and st ~= 'cancelled' then return 'refused:' .. st end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'refused:stopping' end
redis.call('HSET', KEYS[1], 'status.current', 'enqueued', 'status.enqueued.time', ARGV[2])
redis.call('HDEL', KEYS[1], 'error')
redis.call('PERSIST', KEYS[1])
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

Result<std::string> create_ticket(Redis& redis, const std::string& name, const std::string& ticket,
                                  const std::string& key, const std::string& data_json, int64_t now_ms,
                                  int64_t max_incoming) {
  const std::string& p = redis.options().prefix;
  return eval(redis, kCreate, {ticket_key(p, name, ticket), incoming_key(p, name)},
              {ticket, key, data_json, std::to_string(now_ms), std::to_string(max_incoming)});
}

Result<std::string> take_ticket(Redis& redis, const std::string& name, const std::string& ticket,
                                const std::string& token, int lease_ms, const std::string& worker, int64_t now_ms) {
  const std::string& p = redis.options().prefix;
  return eval(redis, kTake.c_str(), {ticket_key(p, name, ticket), lease_key(p, name, ticket), processing_key(p, name)},
              {ticket, token, std::to_string(lease_ms), worker, std::to_string(now_ms)});
}

Result<std::string> record_steps(Redis& redis, const std::string& name, const std::string& ticket,
                                 const std::string& token, const std::vector<std::string>& fields, int steps) {
  const std::string& p = redis.options().prefix;
  std::vector<std::string> args{token, std::to_string(steps)};
  args.insert(args.end(), fields.begin(), fields.end());
  return eval(redis, kRecord, {ticket_key(p, name, ticket), lease_key(p, name, ticket)}, std::move(args));
}

Result<std::string> mark_running(Redis& redis, const std::string& name, const std::string& ticket,
                                 const std::string& token, int64_t now_ms) {
  const std::string& p = redis.options().prefix;
  return eval(redis, kMarkRunning, {ticket_key(p, name, ticket), lease_key(p, name, ticket)},
              {token, std::to_string(now_ms)});
}

Result<std::string> holds_lease(Redis& redis, const std::string& name, const std::string& ticket,
                                const std::string& token) {
  return eval(redis, kHolds, {lease_key(redis.options().prefix, name, ticket)}, {token});
}

void append_renew(Redis& redis, const std::string& name, const std::string& ticket, const std::string& token,
                  int lease_ms) {
  const std::string& p = redis.options().prefix;
  redis.append({"EVAL", kRenew, "2", lease_key(p, name, ticket), ticket_key(p, name, ticket), token,
                std::to_string(lease_ms)});
}

Result<std::string> finish_ticket(Redis& redis, const std::string& name, const std::string& ticket,
                                  const std::string& token, const std::string& status, const std::string& error,
                                  int64_t run_us, int64_t now_ms, int64_t ttl_s) {
  const std::string& p = redis.options().prefix;
  return eval(redis, kFinish, {ticket_key(p, name, ticket), lease_key(p, name, ticket), processing_key(p, name)},
              {ticket, token, status, std::to_string(now_ms), error, std::to_string(run_us), std::to_string(ttl_s)});
}

Result<std::string> hand_back_ticket(Redis& redis, const std::string& name, const std::string& ticket,
                                     const std::string& token, int64_t now_ms) {
  auto del = redis.command({"EVAL", "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end",
                            "1", lease_key(redis.options().prefix, name, ticket), token});
  if (!del) return Result<std::string>::error(del.message());
  return reap_ticket(redis, name, ticket, now_ms);
}

Result<std::string> reap_ticket(Redis& redis, const std::string& name, const std::string& ticket, int64_t now_ms) {
  const std::string& p = redis.options().prefix;
  return eval(redis, kReap.c_str(),
              {ticket_key(p, name, ticket), lease_key(p, name, ticket), processing_key(p, name), incoming_key(p, name)},
              {ticket, std::to_string(now_ms)});
}

Result<std::string> cancel_ticket(Redis& redis, const std::string& name, const std::string& ticket, int64_t now_ms,
                                  int64_t ttl_s) {
  const std::string& p = redis.options().prefix;
  return eval(redis, kCancel, {ticket_key(p, name, ticket), incoming_key(p, name)},
              {ticket, std::to_string(now_ms), std::to_string(ttl_s)});
}

Result<std::string> retry_ticket(Redis& redis, const std::string& name, const std::string& ticket, int64_t now_ms) {
  const std::string& p = redis.options().prefix;
  return eval(redis, kRetry, {ticket_key(p, name, ticket), incoming_key(p, name), lease_key(p, name, ticket)},
              {ticket, std::to_string(now_ms)});
}

Result<TicketRead> read_ticket(Redis& redis, const std::string& name, const std::string& ticket) {
  TicketRead out;
  auto r = redis.command({"HGETALL", ticket_key(redis.options().prefix, name, ticket)});
  if (!r) {
    if (r.message().rfind("WRONGTYPE", 0) != 0) return r.status();
    out.what = TicketRead::kBad;
    out.why = "the ticket's key holds no hash";
    return out;
  }
  auto t = decode_ticket(r->get());
  if (!t) {
    out.what = TicketRead::kBad;
    out.why = t.message();
  } else if (*t) {
    out.what = TicketRead::kFound;
    out.ticket = std::move(**t);
  }
  return out;
}

}  // namespace tether::workflow
