// The control-message subscriber (see bus.h).
#include "registry/bus.h"

#include <chrono>

#include "common/log.h"

namespace tether {

Bus::Bus(RedisOptions opts) : opts_(std::move(opts)) {}

Bus::~Bus() { stop(); }

void Bus::start() { thread_ = std::thread([this] { loop(); }); }

void Bus::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void Bus::dispatch(const std::string& payload) {
  received_++;
  auto msg = nlohmann::json::parse(payload, nullptr, false);
  if (msg.is_discarded() || !msg.is_object() || !msg.contains("type") || !msg["type"].is_string()) {
    log::warn("bus_message_malformed", {{"payload", payload.substr(0, 200)}});
    return;
  }
  auto it = handlers_.find(msg["type"].get<std::string>());
  if (it == handlers_.end()) return;  // for another component or a newer version
  it->second(msg);
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
