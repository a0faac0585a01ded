// Structured logging: one JSON object per line on stderr
// ({"time":..,"level":..,"worker":..,"event":..,...fields}).
// Thread-safe: every call writes one whole line with a single write(2).
#pragma once
#include <nlohmann/json.hpp>
#include <atomic>
#include <string>

namespace tether::log {

// Sets the fields every line carries (host and worker); call once at start.
void set_identity(const std::string& host, int worker);

// True at most once per interval_ms for one `last` (a rate limit for
// errors that could repeat per request). Thread-safe.
bool every(std::atomic<int64_t>& last, int64_t interval_ms);

void info(const std::string& event, nlohmann::json fields = nlohmann::json::object());
void warn(const std::string& event, nlohmann::json fields = nlohmann::json::object());
void error(const std::string& event, nlohmann::json fields = nlohmann::json::object());

}  // namespace tether::log
