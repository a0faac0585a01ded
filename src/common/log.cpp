// Structured JSON-lines logger (see log.h).
#include "common/log.h"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <mutex>

namespace tether::log {
namespace {

std::mutex identity_mu;
std::string identity_host;
int identity_worker = -1;

std::string iso_now() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%06lldZ", static_cast<long long>(micros));
  return buf;
}

void emit(const char* level, const std::string& event, nlohmann::json fields) {
  nlohmann::json line = nlohmann::json::object();
  line["time"] = iso_now();
  line["level"] = level;
  {
    std::lock_guard<std::mutex> lock(identity_mu);
    if (!identity_host.empty()) line["host"] = identity_host;
    if (identity_worker >= 0) line["worker"] = identity_worker;
  }
  line["event"] = event;
  if (fields.is_object()) {
    for (auto& [k, v] : fields.items()) line[k] = std::move(v);
  }
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  // One write per line keeps lines whole when threads log at once.
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t w = ::write(2, p, left);
    if (w <= 0) return;
    p += w;
    left -= static_cast<size_t>(w);
  }
}

}  // namespace

bool every(std::atomic<int64_t>& last, int64_t interval_ms) {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  int64_t prev = last.load();
  return now - prev >= interval_ms && last.compare_exchange_strong(prev, now);
}

void set_identity(const std::string& host, int worker) {
  std::lock_guard<std::mutex> lock(identity_mu);
  identity_host = host;
  identity_worker = worker;
}

void info(const std::string& event, nlohmann::json fields) { emit("info", event, std::move(fields)); }
void warn(const std::string& event, nlohmann::json fields) { emit("warn", event, std::move(fields)); }
void error(const std::string& event, nlohmann::json fields) { emit("error", event, std::move(fields)); }

}  // namespace tether::log
