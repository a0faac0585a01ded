// ReloadReport: what became of each reload of tether.json's rules (SIGHUP,
// or {"type":"reload"} on the bus), kept for the worker's status figures as
// the "config" section: {"reloads", "reload_failures", "last_ok",
// "last_error", "last_reload", "rules"} (tetherctl reload reads it from the
// heartbeat to report each worker's result).
// Thread safety: record from the main thread; figures() from any thread
// (status requests, the heartbeat); one mutex.
#pragma once
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "common/clock.h"
#include "common/json.h"

namespace tether {

class ReloadReport {
 public:
  explicit ReloadReport(size_t rules = 0) : rules_(rules) {}
  void set_rules(size_t rules) {
    std::lock_guard lock(mu_);
    rules_ = rules;
  }
  void succeeded(size_t rules) {
    std::lock_guard lock(mu_);
    ++reloads_;
    rules_ = rules;
    last_ok_ = true;
    last_error_.clear();
    last_reload_ = unix_seconds();
  }
  void failed(const std::string& error) {
    std::lock_guard lock(mu_);
    ++reloads_;
    ++failures_;
    last_ok_ = false;
    last_error_ = utf8_or_replaced(error.substr(0, 1000));  // the file's text may be in it
    last_reload_ = unix_seconds();
  }
  nlohmann::json figures() const {
    std::lock_guard lock(mu_);
    return {{"reloads", reloads_},       {"reload_failures", failures_}, {"last_ok", last_ok_},
            {"last_error", last_error_}, {"last_reload", last_reload_},  {"rules", rules_}};
  }

 private:
  mutable std::mutex mu_;
  uint64_t reloads_ = 0, failures_ = 0;
  bool last_ok_ = true;
  std::string last_error_;
  int64_t last_reload_ = 0;  // unix seconds; 0 = never reloaded
  size_t rules_ = 0;         // rules in force
};

}  // namespace tether
