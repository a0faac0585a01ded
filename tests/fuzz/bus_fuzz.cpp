// Fuzzes the bus (src/redis/bus): any bytes, as a payload PUBLISHed on
// {prefix}bus by anyone who can write to Redis. Each payload goes through
// Bus::dispatch, as the bus thread sends it, with a "kill" and a "drain"
// handler registered. Checks what decode_bus_message promises: it never
// throws, a refusal says why, and a handler only sees a message with every
// field its type needs (kill: a sid; drain: a route like "h1-0").
#include <cstdlib>
#include <string>

#include "common/route.h"
#include "redis/bus.h"

namespace {

tether::Bus& bus() {
  static tether::Bus* b = [] {
    auto* bus = new tether::Bus(tether::RedisOptions{});  // never started: no connection
    bus->on("kill", [](const tether::BusMessage& m) {
      tether::SessionId back;
      if (!tether::SessionId::from_hex(m.sid.hex(), &back) || back.hex() != m.sid.hex()) std::abort();
    });
    bus->on("drain", [](const tether::BusMessage& m) {
      std::string host;
      int n = 0;
      if (!tether::parse_route(m.worker, &host, &n)) std::abort();
    });
    return bus;
  }();
  return *b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string payload(reinterpret_cast<const char*>(data), size);
  auto m = tether::decode_bus_message(payload);
  if (!m && m.message().empty()) std::abort();  // a refusal always says why
  bus().dispatch(payload);
  return 0;
}
