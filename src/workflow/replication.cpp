// Replication of ticket writes (see replication.h).
#include "workflow/replication.h"

#include <atomic>

#include "common/log.h"
#include "redis/reply.h"

namespace tether::workflow {

bool replicated(Redis& redis, const Definition& def, Stats& stats, const char* effect) {
  if (def.min_replicas_ack <= 0) return true;
  auto have = wait_replicas(redis, def.min_replicas_ack, def.replicas_ack_timeout_ms);
  if (have && *have >= def.min_replicas_ack) return true;
  stats.replica_waits_short++;
  static std::atomic<int64_t> last_log{0};
  if (log::every(last_log, 10000)) {
    log::warn("workflow_replicas_behind",
              {{"workflow", def.name}, {"min_replicas_ack", def.min_replicas_ack},
               {"confirmed", have ? nlohmann::json(*have) : nlohmann::json(have.message())}, {"effect", effect}});
  }
  return false;
}

}  // namespace tether::workflow
