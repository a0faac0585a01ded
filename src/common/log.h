// Structured logging: one JSON object per line on stderr
// ({"time":..,"level":..,"worker":..,"event":..,...fields}).
// Thread-safe: every call writes one whole line with a single write(2).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace tether::log {

// Sets the fields every line carries (host and worker); call once at start.
void set_identity(const std::string& host, int worker);

void info(const std::string& event, nlohmann::json fields = nlohmann::json::object());
void warn(const std::string& event, nlohmann::json fields = nlohmann::json::object());
void error(const std::string& event, nlohmann::json fields = nlohmann::json::object());

}  // namespace tether::log
