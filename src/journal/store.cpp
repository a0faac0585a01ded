// The list store's Lua scripts and calls (see store.h).
#include "journal/store.h"

#include "common/firewall.h"
#include "common/json.h"

#include <cstdio>

#include "journal/line.h"
#include "redis/reply.h"

namespace tether::journal {
namespace {

// ARGV: prefix, source, then per entry: domain, seq, priority, member, json.
const char* kShip = R"lua(
local p, src = ARGV[1], ARGV[2]
local mark = tonumber(redis.call('HGET', p..'journal:shipped', src) or '0')
local top, stored, seen = mark, 0, {}
for i = 3, #ARGV, 5 do
  local seq = tonumber(ARGV[i+1])
  if seq > mark then
    local d = ARGV[i]
    redis.call('ZADD', p..'list:'..d, ARGV[i+2], ARGV[i+3])
    redis.call('HSET', p..'list:'..d..':entries', ARGV[i+3], ARGV[i+4])
    if not seen[d] then redis.call('SADD', p..'journal:domains', d); seen[d] = true end
    stored = stored + 1
    if seq > top then top = seq end
  end
end
if top > mark then redis.call('HSET', p..'journal:shipped', src, top) end
return stored)lua";

// KEYS: list, entries, leased. ARGV: n, lease_ms. Returns member, json, member, json...
const char* kTake = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
  redis.call('ZREM', KEYS[3], m)
  if redis.call('HEXISTS', KEYS[2], m) == 1 then redis.call('ZADD', KEYS[1], tonumber(string.sub(m, 1, 3)), m) end
end
local out = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), m)
  out[#out + 1] = m
  out[#out + 1] = redis.call('HGET', KEYS[2], m) or ''
end
return out)lua";

// KEYS: list, entries, leased. ARGV: members.
const char* kRelease = R"lua(
for _, m in ipairs(ARGV) do
  if redis.call('ZREM', KEYS[3], m) == 1 and redis.call('HEXISTS', KEYS[2], m) == 1 then
    redis.call('ZADD', KEYS[1], tonumber(string.sub(m, 1, 3)), m)
  end
end
return #ARGV)lua";

std::vector<std::string> keys3(Redis& redis, const std::string& domain) {
  std::string k = list_key(redis.options().prefix, domain);
  return {k, k + ":entries", k + ":leased"};
}

}  // namespace

std::string list_key(const std::string& prefix, const std::string& domain) { return prefix + "list:" + domain; }

std::string list_member(const Entry& e) {
  char head[32];
  snprintf(head, sizeof head, "%03d|%016lld|", e.priority, static_cast<long long>(e.key_start_date));
  return head + e.id();
}

Result<long long> ship_batch(Redis& redis, const std::vector<Entry>& batch) {
  if (batch.empty()) return 0LL;
  std::vector<std::string> argv = {"EVAL", kShip, "0", redis.options().prefix, batch.front().src};
  argv.reserve(5 + batch.size() * 5);
  for (const Entry& e : batch) {
    argv.push_back(e.domain);
    argv.push_back(std::to_string(e.seq));
    argv.push_back(std::to_string(e.priority));
    argv.push_back(list_member(e));
    argv.push_back(entry_json(e));
  }
  auto r = redis.command(argv);
  if (!r) return r.status();
  return reply_integer(r->get());
}

Result<std::vector<Taken>> take(Redis& redis, const std::string& domain, int n, int lease_ms) {
  auto k = keys3(redis, domain);
  auto r = redis.command({"EVAL", kTake, "3", k[0], k[1], k[2], std::to_string(n), std::to_string(lease_ms)});
  if (!r) return r.status();
  std::vector<Taken> out;
  ReplyView a(r->get());
  for (size_t i = 0; i + 1 < a.size(); i += 2) {
    Taken t;
    auto member = a[i].text();
    t.member = member ? *member : std::string();
    std::string json(a[i + 1].text_view().value_or(""));  // nil: the entry is gone
    if (!member) {
      t.entry = Result<Entry>::error("a member of " + k[0] + ": " + member.message());
    } else if (json.empty()) {
      t.entry = Result<Entry>::error("entry missing from " + k[1]);
    } else if (json_depth(json, kMaxJsonDepth) > kMaxJsonDepth) {
      t.entry = Result<Entry>::error("nested deeper than " + std::to_string(kMaxJsonDepth));  // before any parser recurses
    } else {
      t.entry = entry_from_json(json);
    }
    if (!t.entry) firewall::refused("journal.bad_entry", domain + ": " + t.entry.message());
    out.push_back(std::move(t));
  }
  return out;
}

Status done(Redis& redis, const std::string& domain, const std::string& member) {
  auto k = keys3(redis, domain);
  redis.append({"ZREM", k[2], member});
  redis.append({"ZREM", k[0], member});
  redis.append({"HDEL", k[1], member});
  auto r = redis.flush();
  return r ? Status::ok() : r.status();
}

Status release(Redis& redis, const std::string& domain, const std::vector<std::string>& members) {
  if (members.empty()) return Status::ok();
  auto k = keys3(redis, domain);
  std::vector<std::string> argv = {"EVAL", kRelease, "3", k[0], k[1], k[2]};
  argv.insert(argv.end(), members.begin(), members.end());
  auto r = redis.command(argv);
  return r ? Status::ok() : r.status();
}

Result<ListFigures> list_figures(Redis& redis, const std::string& domain) {
  auto k = keys3(redis, domain);
  redis.append({"ZCARD", k[0]});
  redis.append({"ZCARD", k[2]});
  auto r = redis.flush();
  if (!r) return r.status();
  if (Status n = expect_replies(*r, 2); !n) return n;
  auto waiting = ReplyView((*r)[0].get()).integer(), leased = ReplyView((*r)[1].get()).integer();
  if (!waiting) return Status::error("ZCARD " + k[0] + ": " + waiting.message());
  if (!leased) return Status::error("ZCARD " + k[2] + ": " + leased.message());
  return ListFigures{*waiting, *leased};
}

Result<std::vector<std::string>> domains(Redis& redis) {
  auto r = redis.command({"SMEMBERS", redis.options().prefix + "journal:domains"});
  if (!r) return r.status();
  auto members = ReplyView(r->get()).strings();
  if (!members) return Status::error("SMEMBERS journal:domains: " + members.message());
  std::vector<std::string> out = std::move(members.value());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace tether::journal
