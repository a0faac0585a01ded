// Ordered start and reverse stop of a worker's parts (see services.h).
#include "worker/services.h"

#include "common/log.h"

namespace tether {

Status Services::start() {
  for (auto& p : parts_) {
    if (p.running) continue;
    if (Status s = p.start(); !s) {
      log::error("start_failed", {{"part", p.name}, {"error", s.message()}});
      stop();
      return Status::error(p.name + ": " + s.message());
    }
    p.running = true;
  }
  return Status::ok();
}

void Services::stop() {
  for (auto it = parts_.rbegin(); it != parts_.rend(); ++it) {
    if (!it->running) continue;
    it->running = false;
    it->stop();
  }
}

std::vector<std::string> Services::running() const {
  std::vector<std::string> names;
  for (const auto& p : parts_) {
    if (p.running) names.push_back(p.name);
  }
  return names;
}

}  // namespace tether
