// Every live worker's figures from Redis (see fleet.h).
#include "ops/fleet.h"

#include <algorithm>

#include "common/clock.h"
#include "common/firewall.h"
#include "registry/entries.h"

namespace tether::fleet {

Result<std::vector<registry::Figures>> read(Redis& redis, int64_t heartbeat_ms, const std::string& host) {
  using R = Result<std::vector<registry::Figures>>;
  auto ws = registry::read_workers(redis, unix_millis(), heartbeat_ms);
  if (!ws) return ws.status();
  std::vector<registry::WorkerInfo> chosen;
  for (auto& w : *ws) {
    if (host.empty() || w.host == host) chosen.push_back(w);
  }
  std::sort(chosen.begin(), chosen.end(),
            [](auto& a, auto& b) { return a.host != b.host ? a.host < b.host : a.worker < b.worker; });
  chosen.erase(std::unique(chosen.begin(), chosen.end(),
                           [](auto& a, auto& b) { return a.host == b.host && a.worker == b.worker; }),
               chosen.end());
  for (const auto& w : chosen) {
    redis.append({"HGET", redis.options().prefix + "worker:" + registry::worker_name(w.host, w.worker), "figures"});
  }
  auto replies = redis.flush();
  if (!replies) return replies.status();
  std::vector<registry::Figures> out;
  for (size_t i = 0; i < chosen.size() && i < replies->size(); ++i) {
    const auto& w = chosen[i];
    const redisReply* r = (*replies)[i].get();
    std::string name = registry::worker_name(w.host, w.worker);
    if (r->type == REDIS_REPLY_NIL) {  // no figures written (yet): what the directory knows
      auto f = registry::Figures::from_directory(w);
      f.set_directory(w);
      out.push_back(std::move(f));
      continue;
    }
    if (r->type != REDIS_REPLY_STRING) {
      firewall::refused(registry::kBadFigures, name + ": not a string");
      continue;
    }
    auto f = registry::Figures::decode(std::string_view(r->str, r->len), w.host, w.worker);
    if (!f) {
      firewall::refused(registry::kBadFigures, name + ": " + f.message());
      continue;
    }
    f->set_directory(w);
    out.push_back(std::move(f.value()));
  }
  return R(std::move(out));
}

}  // namespace tether::fleet
