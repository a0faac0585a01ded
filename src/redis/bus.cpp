// The control-message bus: its messages, publish() and the subscriber (see bus.h).
#include "redis/bus.h"

#include <string_view>

#include "common/firewall.h"
#include "common/json.h"
#include "common/log.h"
#include "common/route.h"
#include "redis/backoff.h"
#include "redis/reply.h"

namespace tether {
namespace {

bool known_type(const std::string& type) { return type == "kill" || type == "drain" || type == "reload"; }

}  // namespace

BusMessage BusMessage::kill(const SessionId& sid) {
  BusMessage m;
  m.type = "kill";
  m.sid = sid;
  return m;
}

BusMessage BusMessage::drain(const std::string& worker) {
  BusMessage m;
  m.type = "drain";
  m.worker = worker;
  return m;
}

BusMessage BusMessage::reload(const std::string& host) {
  BusMessage m;
  m.type = "reload";
  m.host = host;
  return m;
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
      if (!host || !valid_host_id(*host)) return R::error("reload: host: expected a host id like \"h1\"");
      m.host = *host;
    }
  }
  return m;
}

std::string encode_bus_message(const BusMessage& m) {
  nlohmann::json j = {{"type", m.type}};
  if (m.type == "kill") j["sid"] = m.sid.hex();
  if (m.type == "drain") j["worker"] = m.worker;
  if (m.type == "reload" && !m.host.empty()) j["host"] = m.host;
  return json_text(j);
}

Result<long long> publish(Redis& redis, const BusMessage& message) {
  using R = Result<long long>;
  if (!known_type(message.type)) return R::error("bus: no message of type \"" + utf8_or_replaced(message.type) + "\"");
  std::string payload = encode_bus_message(message);
  if (auto back = decode_bus_message(payload); !back) return R::error("bus: " + back.message());
  auto r = redis.command({"PUBLISH", bus_channel(redis.options().prefix), payload});
  if (!r) return r.status();
  auto receivers = ReplyView(r->get()).integer();
  if (!receivers) return R::error("PUBLISH: " + receivers.message());
  return receivers;
}

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
  Backoff backoff;
  while (!stopping_) {
    Redis redis(opts_);
    auto sub = redis.command({"SUBSCRIBE", channel()});
    if (!sub) {
      if (backoff.down()) log::warn("bus_down", {{"error", sub.message()}});
      backoff.sleep([this] { return stopping_.load(); });
      continue;
    }
    if (backoff.up()) log::info("bus_up");
    while (!stopping_) {
      auto r = redis.wait_reply(200);
      if (!r) break;  // reconnect
      ReplyView a(r->get());
      auto kind = a[0].text();
      if (!a.array(3) || !kind || *kind != "message") continue;  // a subscribe confirmation, or nothing in time
      // Redis sends every payload as a string: anything else is not a message.
      dispatch(std::string(a[2].text_view().value_or("")));
    }
  }
}

}  // namespace tether
