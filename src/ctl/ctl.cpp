// tetherctl commands over the Redis registry (see ctl.h).
#include "ctl/ctl.h"

#include <sodium.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/clock.h"
#include "common/json.h"
#include "common/route.h"
#include "redis/bus.h"
#include "redis/reply.h"
#include "common/firewall.h"
#include "registry/checkpoint_record.h"
#include "registry/entries.h"

namespace tether::ctl {
namespace {

using nlohmann::json;

std::string age(int64_t since_ms) {
  int64_t s = (unix_millis() - since_ms) / 1000;
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  return std::to_string(s / 3600) + "h";
}

int fail(const std::string& what) {
  fprintf(stderr, "tetherctl: %s\n", what.c_str());
  return 1;
}

// The session's checkpoint record (registry/checkpoint_record.h), read as
// hostile input: {"exists": false}, or its age, owner and epoch and whether
// they are the entry's (only such a record can be recovered), or the reason
// it was refused. entry: the session hash's fields.
json checkpoint_figures(const redisReply* value, const json& entry) {
  ReplyView v(value);
  if (v.is_nil()) return {{"exists", false}};
  auto text = v.bulk();
  if (!text) {
    firewall::refused(registry::kBadRecord, "tetherctl: not a string: " + v.describe());
    return {{"exists", true}, {"refused", "not a string"}};
  }
  auto c = registry::decode_record(*text);
  if (!c) {
    firewall::refused(registry::kBadRecord, "tetherctl: " + c.message());
    return {{"exists", true}, {"refused", c.message()}};
  }
  bool current = string_field(entry, "host") == c->host && string_field(entry, "worker") == std::to_string(c->worker) &&
                 string_field(entry, "epoch") == std::to_string(c->epoch);
  return {{"exists", true},
          {"age_ms", std::max<int64_t>(0, unix_millis() - c->at_ms)},
          {"app", c->app},
          {"by", c->host + "-" + std::to_string(c->worker)},
          {"epoch", c->epoch},
          {"bytes", text->size()},
          {"current", current}};
}

// Every session key, by SCAN (never KEYS: it would stall Redis).
Result<std::vector<std::string>> scan_sessions(Redis& redis, const std::string& match) {
  std::vector<std::string> keys;
  std::string cursor = "0";
  do {
    auto r = redis.command({"SCAN", cursor, "MATCH", match, "COUNT", "1000"});
    if (!r) return r.status();
    auto page = decode_scan(ReplyView(r->get()));
    if (!page) return page.status();
    cursor = page->cursor;
    for (auto& k : page->keys) keys.push_back(std::move(k));
  } while (cursor != "0");
  return keys;
}

// A full 32-hex id, or the one session whose id starts with the given prefix.
Result<std::string> resolve(Redis& redis, const std::string& sid) {
  if (sid.size() < 8 || sid.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Result<std::string>::error("expected a session id: 8 to 32 lower-case hex digits, got \"" + sid + "\"");
  }
  std::string prefix = redis.options().prefix + "session:";
  if (sid.size() == 32) return sid;
  auto keys = scan_sessions(redis, prefix + sid + "*");
  if (!keys) return keys.status();
  if (keys->empty()) return Result<std::string>::error("no session " + sid);
  if (keys->size() > 1) return Result<std::string>::error("more than one session starts with " + sid);
  return keys->front().substr(prefix.size());
}

}  // namespace

Result<std::vector<std::string>> scan_keys(Redis& redis, const std::string& match) {
  return scan_sessions(redis, match);
}

int sessions(Redis& redis, const Options& opt) {
  std::string prefix = redis.options().prefix + "session:";
  auto keys = scan_sessions(redis, prefix + "*");
  if (!keys) return fail(keys.message());
  std::map<std::string, int64_t> per_owner;
  json rows = json::array();
  for (size_t i = 0; i < keys->size(); i += 1000) {
    size_t end = std::min(keys->size(), i + 1000);
    for (size_t k = i; k < end; ++k) redis.append({"HMGET", (*keys)[k], "host", "worker", "created", "last_seen"});
    auto replies = redis.flush();
    if (!replies) return fail(replies.message());
    if (Status n = expect_replies(*replies, end - i); !n) return fail(n.message());
    for (size_t k = i; k < end; ++k) {
      ReplyView h((*replies)[k - i].get());
      auto host = h[0].bulk();
      if (!h.array(4) || !host) continue;  // expired meanwhile
      std::string owner = *host + "-" + std::string(h[1].text_view().value_or(""));
      per_owner[owner]++;
      if (rows.size() < opt.limit) {
        auto created = h[2].number(), last_seen = h[3].number();  // unreadable: shown as 0
        rows.push_back({{"sid", (*keys)[k].substr(prefix.size())},
                        {"owner", owner},
                        {"created", created ? *created : 0},
                        {"last_seen", last_seen ? *last_seen : 0}});
      }
    }
  }
  int64_t total = 0;
  for (auto& [o, n] : per_owner) total += n;
  if (opt.json) {
    printf("%s\n", json_text(json{{"total", total}, {"per_owner", per_owner}, {"sessions", rows}}, 2).c_str());
    return 0;
  }
  printf("%-32s  %-12s  %8s  %9s\n", "SESSION", "OWNER", "AGE", "IDLE");
  for (const auto& r : rows) {
    printf("%-32s  %-12s  %8s  %9s\n", r["sid"].get<std::string>().c_str(), r["owner"].get<std::string>().c_str(),
           age(r["created"]).c_str(), age(r["last_seen"]).c_str());
  }
  if (static_cast<int64_t>(rows.size()) < total) printf("... (%zu of %lld shown; --limit N)\n", rows.size(), (long long)total);
  printf("%lld sessions", static_cast<long long>(total));
  for (auto& [o, n] : per_owner) printf("; %s: %lld", o.c_str(), static_cast<long long>(n));
  printf("\n");
  return 0;
}

int session(Redis& redis, const std::string& sid_arg, const Options& opt) {
  auto sid = resolve(redis, sid_arg);
  if (!sid) return fail(sid.message());
  std::string key = redis.options().prefix + "session:" + *sid;
  redis.append({"HGETALL", key});
  redis.append({"PTTL", key});
  redis.append({"GET", redis.options().prefix + "state:" + *sid});
  auto r = redis.flush();
  if (!r) return fail(r.message());
  if (Status n = expect_replies(*r, 3); !n) return fail(n.message());
  ReplyView h((*r)[0].get());
  if (h.size() == 0) return fail("no session " + *sid);
  auto ttl = ReplyView((*r)[1].get()).integer();
  json j = {{"sid", *sid}, {"ttl_ms", ttl ? *ttl : 0}};
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    j[std::string(h[i].text_view().value_or(""))] = std::string(h[i + 1].text_view().value_or(""));
  }
  json ckpt = checkpoint_figures((*r)[2].get(), j);
  if (opt.json) {
    j["checkpoint"] = ckpt;
    printf("%s\n", json_text(j, 2).c_str());
    return 0;
  }
  for (auto& [k, v] : j.items()) {
    printf("%-10s %s\n", utf8_or_replaced(k).c_str(), v.is_string() ? utf8_or_replaced(v.get<std::string>()).c_str() : json_text(v).c_str());
  }
  if (!bool_field(ckpt, "exists").value_or(false)) {
    printf("%-10s none\n", "checkpoint");
  } else if (auto why = string_field(ckpt, "refused")) {
    printf("%-10s unreadable (%s)\n", "checkpoint", utf8_or_replaced(*why).c_str());
  } else {
    printf("%-10s age %lldms, by %s at epoch %lld, %lld bytes%s\n", "checkpoint",
           static_cast<long long>(int_field(ckpt, "age_ms").value_or(0)),
           utf8_or_replaced(string_field(ckpt, "by").value_or("")).c_str(),
           static_cast<long long>(int_field(ckpt, "epoch").value_or(0)),
           static_cast<long long>(int_field(ckpt, "bytes").value_or(0)),
           bool_field(ckpt, "current").value_or(false) ? "" : " (stale: not the entry's owner and epoch)");
  }
  return 0;
}

int workers(Redis& redis, const Options& opt) {
  // "Live" here is generous (10 s): tetherctl does not know the heartbeat.
  auto ws = registry::read_workers(redis, unix_millis(), 10000 / 3);
  if (!ws) return fail(ws.message());
  json rows = json::array();
  for (const auto& w : *ws) {
    rows.push_back({{"worker", make_route(w.host, w.worker)}, {"addr", w.addr}, {"pid", w.pid},
                    {"sessions", w.sessions}, {"accepting", w.accepting}, {"heartbeat", w.heartbeat_ms}});
  }
  if (opt.json) {
    printf("%s\n", json_text(rows, 2).c_str());
    return 0;
  }
  printf("%-12s  %-8s  %8s  %-9s  %-9s  %s\n", "WORKER", "PID", "SESSIONS", "ACCEPTING", "HEARTBEAT", "ADDRESS");
  for (const auto& r : rows) {
    printf("%-12s  %-8lld  %8lld  %-9s  %-9s  %s\n", r["worker"].get<std::string>().c_str(),
           r["pid"].get<long long>(), r["sessions"].get<long long>(), r["accepting"].get<bool>() ? "yes" : "no",
           (age(r["heartbeat"]) + " ago").c_str(), r["addr"].get<std::string>().c_str());
  }
  return 0;
}

int kill(Redis& redis, const std::string& sid_arg, const Options& opt) {
  auto sid = resolve(redis, sid_arg);
  if (!sid) return fail(sid.message());
  std::string key = redis.options().prefix + "session:" + *sid;
  auto owner = redis.command({"HMGET", key, "host", "worker"});
  if (!owner) return fail(owner.message());
  ReplyView o(owner->get());
  auto host = o[0].bulk();
  if (!host) return fail("no session " + *sid);
  std::string who = *host + "-" + std::string(o[1].text_view().value_or(""));
  SessionId id;
  if (!SessionId::from_hex(*sid, &id)) return fail("no session " + *sid);
  auto pub = publish(redis, BusMessage::kill(id));
  if (!pub) return fail(pub.message());
  // The owner ends the session and removes its entry; wait for that.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt.wait_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    auto e = redis.command({"EXISTS", key});
    if (!e) return fail(e.message());
    if (reply_integer(e->get()) == 0) {
      printf(opt.json ? "{\"killed\": \"%s\", \"owner\": \"%s\"}\n" : "killed %s (owner %s)\n", sid->c_str(), who.c_str());
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a condition in Redis
  }
  // No live owner took it: remove the entry so no one is sent to it.
  auto del = redis.command({"DEL", key});
  if (!del) return fail(del.message());
  printf(opt.json ? "{\"removed\": \"%s\", \"owner\": \"%s\", \"owner_live\": false}\n"
                  : "owner %s did not answer; removed the entry of %s\n",
         who.c_str(), sid->c_str());
  return 0;
}

}  // namespace tether::ctl
