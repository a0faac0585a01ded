// Process-wide caught/refused counts and their rate-limited log lines (see firewall.h).
#include "common/firewall.h"

#include <chrono>
#include <map>
#include <mutex>

#include "common/log.h"

namespace tether::firewall {
namespace {

struct Count {
  uint64_t n = 0;
  int64_t last_log_ms = INT64_MIN / 2;
};

std::mutex mu;
std::map<std::string, Count> caught_counts;
std::map<std::string, Count> refused_counts;
std::map<std::string, std::string> stopped;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Counts one under key; true if a line should be logged (at most one a second per key).
bool bump(std::map<std::string, Count>& m, const std::string& key, uint64_t* total) {
  std::lock_guard lock(mu);
  Count& c = m[key];
  *total = ++c.n;
  int64_t now = now_ms();
  if (now - c.last_log_ms < 1000) return false;
  c.last_log_ms = now;
  return true;
}

constexpr size_t kLoggedChars = 300;  // of an exception text or a reason

}  // namespace

void caught(const std::string& place, const std::string& what) {
  uint64_t total = 0;
  if (bump(caught_counts, place, &total)) {
    log::error("exception_caught", {{"place", place}, {"what", what.substr(0, kLoggedChars)}, {"count", total}});
  }
}

void refused(const std::string& kind, const std::string& reason) {
  uint64_t total = 0;
  if (bump(refused_counts, kind, &total)) {
    log::warn("input_refused", {{"kind", kind}, {"reason", reason.substr(0, kLoggedChars)}, {"count", total}});
  }
}

void thread_stopped(const std::string& name, const std::string& why) {
  {
    std::lock_guard lock(mu);
    stopped[name] = why;
  }
  log::error("thread_stopped", {{"thread", name}, {"why", why.substr(0, kLoggedChars)}});
}

nlohmann::json stats_json() {
  std::lock_guard lock(mu);
  nlohmann::json caught_j = nlohmann::json::object(), refused_j = nlohmann::json::object();
  for (const auto& [k, c] : caught_counts) caught_j[k] = c.n;
  for (const auto& [k, c] : refused_counts) refused_j[k] = c.n;
  nlohmann::json j = {{"caught", caught_j}, {"refused", refused_j}};
  j["threads_stopped"] = nlohmann::json::object();
  for (const auto& [k, why] : stopped) j["threads_stopped"][k] = why;
  return j;
}

uint64_t caught_count(const std::string& place) {
  std::lock_guard lock(mu);
  auto it = caught_counts.find(place);
  return it == caught_counts.end() ? 0 : it->second.n;
}

uint64_t refused_count(const std::string& kind) {
  std::lock_guard lock(mu);
  auto it = refused_counts.find(kind);
  return it == refused_counts.end() ? 0 : it->second.n;
}

}  // namespace tether::firewall
