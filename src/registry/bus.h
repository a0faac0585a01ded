// Bus: a thread subscribed to the {prefix}bus channel, where operators and
// workers publish control messages as JSON objects with a "type"
// ({"type": "kill", "sid": "<32 hex>"}). Each message goes to the handler
// registered for its type; unknown types are ignored with a log line.
// Reconnects with a backoff when Redis goes away.
//
// Thread safety: on() before start(); handlers run on the bus thread and
// must not block for long. stop() from the owner; it takes at most 200 ms.
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "registry/redis.h"

namespace tether {

class Bus {
 public:
  using Handler = std::function<void(const nlohmann::json& message)>;
  explicit Bus(RedisOptions opts);
  ~Bus();
  void on(const std::string& type, Handler handler) { handlers_[type] = std::move(handler); }
  void start();
  void stop();
  std::string channel() const { return opts_.prefix + "bus"; }
  uint64_t received() const { return received_.load(); }

 private:
  void loop();
  void dispatch(const std::string& payload);

  RedisOptions opts_;
  std::map<std::string, Handler> handlers_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> received_{0};
  std::thread thread_;
};

}  // namespace tether
