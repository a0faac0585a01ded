// Typed decoders for registry values read back from Redis (see decode.h).
#include "registry/decode.h"

#include <arpa/inet.h>

#include <charconv>

#include "common/json.h"
#include "common/route.h"

namespace tether::registry {
namespace {

// Outside text quoted in a reason: bounded and valid UTF-8.
std::string shown(std::string_view s) {
  return "\"" + utf8_or_replaced(s.substr(0, 64)) + (s.size() > 64 ? "...\"" : "\"");
}

// The value of a field, or "" when absent.
const std::string& get(const std::map<std::string, std::string>& f, const char* key) {
  static const std::string empty;
  auto it = f.find(key);
  return it == f.end() ? empty : it->second;
}

}  // namespace

bool valid_addr(std::string_view addr) {
  if (addr.rfind("unix:", 0) == 0) {
    std::string_view path = addr.substr(5);
    if (path.empty() || path.size() > 107 || !valid_utf8(path)) return false;
    for (unsigned char c : path) {
      if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
  }
  size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  auto port = decode_int(addr.substr(colon + 1), 1, 65535);
  if (!port || addr[colon + 1] == '-') return false;
  std::string ip(addr.substr(0, colon));
  if (ip == "localhost") return true;
  in_addr a{};
  return ip.size() <= 15 && inet_pton(AF_INET, ip.c_str(), &a) == 1;
}

Result<int64_t> decode_int(std::string_view text, int64_t min, int64_t max) {
  const char* first = text.data();
  const char* last = text.data() + text.size();
  int64_t v = 0;
  auto [end, ec] = std::from_chars(first, last, v);
  // Decimal as tether writes it: no sign but '-', no leading zeros, so one
  // value has one spelling (h1:07 and h1:7 are not two workers).
  if (text.empty() || ec != std::errc() || end != last || std::to_string(v) != text) {
    return Result<int64_t>::error("expected an integer, got " + shown(text));
  }
  if (v < min || v > max) {
    return Result<int64_t>::error("expected " + std::to_string(min) + " to " + std::to_string(max) + ", got " +
                                  std::to_string(v));
  }
  return v;
}

Result<std::pair<std::string, int>> decode_worker_name(std::string_view member) {
  using R = Result<std::pair<std::string, int>>;
  size_t colon = member.rfind(':');
  if (colon == std::string_view::npos) return R::error("expected \"host:n\", got " + shown(member));
  std::string_view host = member.substr(0, colon);
  if (!valid_host_id(host)) return R::error("expected a host of 1 to 32 letters, digits or '_', got " + shown(member));
  std::string_view n = member.substr(colon + 1);
  if (n.empty() || n[0] == '-') return R::error("expected a worker number, got " + shown(member));
  auto w = decode_int(n, 0, 65535);
  if (!w) return R::error("worker number: " + w.message());
  return std::make_pair(std::string(host), static_cast<int>(*w));
}

Result<SessionEntry> decode_session(const std::map<std::string, std::string>& f) {
  using R = Result<SessionEntry>;
  SessionEntry e;
  e.owner.host = get(f, "host");
  if (!valid_host_id(e.owner.host)) return R::error("host: expected 1 to 32 letters, digits or '_', got " + shown(e.owner.host));
  auto worker = decode_int(get(f, "worker"), 0, 65535);
  if (!worker) return R::error("worker: " + worker.message());
  e.owner.worker = static_cast<int>(*worker);
  e.owner.addr = get(f, "addr");
  if (!valid_addr(e.owner.addr)) return R::error("addr: expected unix:/path or IPv4:port, got " + shown(e.owner.addr));
  auto epoch = decode_int(get(f, "epoch"), 1, INT64_MAX - 1);
  if (!epoch) return R::error("epoch: " + epoch.message());
  e.epoch = *epoch;
  auto created = decode_int(get(f, "created"), 0, INT64_MAX);
  if (!created) return R::error("created: " + created.message());
  e.created_ms = *created;
  auto seen = decode_int(get(f, "last_seen"), 0, INT64_MAX);
  if (!seen) return R::error("last_seen: " + seen.message());
  e.last_seen_ms = *seen;
  return e;
}

Result<WorkerInfo> decode_heartbeat(const std::string& host, int worker, const std::string (&v)[5]) {
  using R = Result<WorkerInfo>;
  WorkerInfo w;
  w.host = host;
  w.worker = worker;
  w.addr = v[0];
  if (!valid_addr(w.addr)) return R::error("addr: expected unix:/path or IPv4:port, got " + shown(w.addr));
  if (v[1] != "0" && v[1] != "1") return R::error("accepting: expected 0 or 1, got " + shown(v[1]));
  w.accepting = v[1] == "1";
  auto sessions = decode_int(v[2], 0, INT64_MAX);
  if (!sessions) return R::error("sessions: " + sessions.message());
  w.sessions = *sessions;
  auto pid = decode_int(v[3], 0, INT32_MAX);
  if (!pid) return R::error("pid: " + pid.message());
  w.pid = *pid;
  auto started = decode_int(v[4], 0, INT64_MAX);
  if (!started) return R::error("started: " + started.message());
  w.started_ms = *started;
  return w;
}

}  // namespace tether::registry
