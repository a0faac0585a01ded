// The control-message subscriber (see bus.h).
#include "registry/bus.h"

#include <chrono>

#include "common/firewall.h"
#include "common/json.h"
#include "common/log.h"
#include "common/route.h"
#include "registry/decode.h"

namespace tether {

Bus::Bus(RedisOptions opts) : opts_(std::move(opts)) {}

Bus::~Bus() { stop(); }

void Bus::start() {
  thread_ = std::thread([this] {
    // loop() catches per message; this is the last line of defence.
    while (!stopping_ && !firewall::guard("bus.loop", [this] { loop(); })) {
    }
  });
}

void Bus::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

Result<BusMessage> decode_bus_message(const std::string& payload) {
  using R = Result<BusMessage>;
  auto parsed = parse_json(payload);
  if (!parsed) return R::error(parsed.message());
  auto type = string_field(*parsed, "type");
  if (!type) return R::error("expected an object with a string \"type\"");
  BusMessage m;
  m.type = *type;
  if (m.type == "kill") {
    auto hex = string_field(*parsed, "sid");
    if (!hex || !SessionId::from_hex(*hex, &m.sid)) return R::error("kill: sid: expected 32 hex digits");
  } else if (m.type == "drain") {
    auto worker = string_field(*parsed, "worker");
    std::string host;
    int n = 0;
    if (!worker || !parse_route(*worker, &host, &n)) return R::error("drain: worker: expected a route like \"h1-0\"");
    m.worker = *worker;
  } else if (m.type == "reload") {
    // Optional "host": only that host's workers reload; absent, every worker.
    if (const auto* h = field(*parsed, "host"); h != nullptr) {
      auto host = string_field(*parsed, "host");
      if (!host || !registry::valid_host(*host)) return R::error("reload: host: expected a host id like \"h1\"");
      m.host = *host;
    }
  }
  return m;
}

void Bus::dispatch(const std::string& payload) {
  received_++;
  auto msg = decode_bus_message(payload);
  if (!msg) {
    firewall::refused("bus.bad_message", msg.message() + ": " + utf8_or_replaced(payload.substr(0, 200)));
    return;
  }
  auto it = handlers_.find(msg->type);
  if (it == handlers_.end()) return;  // for another component or a newer version
  firewall::guard("bus.handler", [&] { it->second(*msg); });
}

void Bus::loop() {
  int backoff_ms = 100;
  bool logged_down = false;
  while (!stopping_) {
    Redis redis(opts_);
    auto sub = redis.command({"SUBSCRIBE", channel()});
    if (!sub) {
      if (!logged_down) log::warn("bus_down", {{"error", sub.message()}});
      logged_down = true;
      for (int waited = 0; waited < backoff_ms && !stopping_; waited += 50) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // backoff, stop-aware
      }
      backoff_ms = std::min(backoff_ms * 2, 2000);
      continue;
    }
    if (logged_down) log::info("bus_up");
    logged_down = false;
    backoff_ms = 100;
    while (!stopping_) {
      auto r = redis.wait_reply(200);
      if (!r) break;  // reconnect
      const redisReply* a = r->get();
      if (a != nullptr && a->type == REDIS_REPLY_ARRAY && a->elements == 3 && reply_string(a->element[0]) == "message") {
        dispatch(reply_string(a->element[2]));
      }
    }
  }
}

}  // namespace tether
