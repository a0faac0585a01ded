// Every live worker's figures from Redis (see fleet.h).
#include "ops/fleet.h"

#include <algorithm>

#include "common/clock.h"
#include "registry/entries.h"

namespace tether::fleet {

Result<std::vector<nlohmann::json>> read(Redis& redis, int64_t heartbeat_ms, const std::string& host) {
  using R = Result<std::vector<nlohmann::json>>;
  auto ws = registry::read_workers(redis, unix_millis(), heartbeat_ms);
  if (!ws) return ws.status();
  std::vector<registry::WorkerInfo> chosen;
  for (auto& w : *ws) {
    if (host.empty() || w.host == host) chosen.push_back(w);
  }
  std::sort(chosen.begin(), chosen.end(),
            [](auto& a, auto& b) { return a.host != b.host ? a.host < b.host : a.worker < b.worker; });
  for (const auto& w : chosen) {
    redis.append({"HGET", redis.options().prefix + "worker:" + registry::worker_name(w.host, w.worker), "figures"});
  }
  auto replies = redis.flush();
  if (!replies) return replies.status();
  std::vector<nlohmann::json> out;
  for (size_t i = 0; i < chosen.size(); ++i) {
    const auto& w = chosen[i];
    nlohmann::json j = nlohmann::json::parse(reply_string((*replies)[i].get()), nullptr, false);
    if (!j.is_object()) j = {{"host", w.host}, {"worker", w.worker}, {"pid", w.pid}, {"sessions", {{"live", w.sessions}}}};
    j["addr"] = w.addr;
    j["accepting"] = w.accepting;
    j["heartbeat"] = w.heartbeat_ms;
    out.push_back(std::move(j));
  }
  return R(std::move(out));
}

}  // namespace tether::fleet
