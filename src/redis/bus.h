// Bus: control messages on the {prefix}bus channel, as JSON objects with a
// "type":
//   {"type": "kill", "sid": "<32 hex>"}       end that session wherever it lives
//   {"type": "drain", "worker": "h1-0"}       that worker drains as on SIGTERM
//   {"type": "reload", "host": "h1"}          that host's workers (every worker
//                                             without "host") reload as on SIGHUP
// Publishers (tetherctl, the admin route) send a typed BusMessage with
// publish(); workers run a Bus, a thread subscribed to the channel.
// Anyone who can write to Redis can publish, so every message is decoded
// (decode_bus_message) before a handler sees it: a message of the wrong
// shape is refused, counted (bus.bad_message) and logged once a second, and
// changes nothing; a type no handler is registered for is for another
// component or a newer version, and is ignored. Reconnects with the one
// backoff (redis/backoff.h) when Redis goes away.
//
// Thread safety: on() before start(); handlers run on the bus thread and
// must not block for long (what they throw is caught and counted as
// bus.handler). stop() from the owner; it takes at most 200 ms. publish()
// uses the caller's connection, on the caller's thread.
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "common/result.h"
#include "redis/redis.h"
#include "token/session_id.h"

namespace tether {

// One decoded control message; which fields are set depends on type.
struct BusMessage {
  std::string type;
  SessionId sid;       // kill
  std::string worker;  // drain: a route, "h1-0"
  std::string host;    // reload: only this host's workers ("" = every worker)

  static BusMessage kill(const SessionId& sid);
  static BusMessage drain(const std::string& worker);
  static BusMessage reload(const std::string& host);  // "": every worker
};

// The payload as a message of a known type with every field it needs, or
// the reason it is refused. Unknown types decode with only `type` set.
Result<BusMessage> decode_bus_message(const std::string& payload);
// The payload for a message (what decode_bus_message reads back).
std::string encode_bus_message(const BusMessage& message);
// The channel under a key prefix: "{prefix}bus".
inline std::string bus_channel(const std::string& prefix) { return prefix + "bus"; }

// Publishes a message of a known type with every field it needs (error
// otherwise, before anything is sent): the number of workers that heard it.
Result<long long> publish(Redis& redis, const BusMessage& message);

class Bus {
 public:
  using Handler = std::function<void(const BusMessage& message)>;
  explicit Bus(RedisOptions opts);
  ~Bus();
  void on(const std::string& type, Handler handler) { handlers_[type] = std::move(handler); }
  void start();
  void stop();
  std::string channel() const { return bus_channel(opts_.prefix); }
  uint64_t received() const { return received_.load(); }
  // Decodes one payload and runs its handler; never throws (tests call it).
  void dispatch(const std::string& payload);

 private:
  void loop();

  RedisOptions opts_;
  std::map<std::string, Handler> handlers_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> received_{0};
  std::thread thread_;
};

}  // namespace tether
