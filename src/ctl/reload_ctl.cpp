// tetherctl reload (see ctl.h): a {"type":"reload","host":H} bus message,
// then each live worker's result read back from its heartbeat figures
// (section "config", written by the worker's ReloadReport). Main thread only.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/clock.h"
#include "common/json.h"
#include "common/route.h"
#include "ctl/ctl.h"
#include "ops/fleet.h"
#include "redis/bus.h"

namespace tether::ctl {
namespace {

using nlohmann::json;

// One worker's "config" section as decoded figures hold it; reloads -1 when
// the worker writes none (an older tetherd).
struct ReloadState {
  int64_t reloads = -1;
  bool ok = false;
  std::string error;
  int64_t rules = 0;
};

ReloadState state_of(const json& w) {
  ReloadState st;
  const json* c = field(w, "config");
  if (c == nullptr || !c->is_object()) return st;
  st.reloads = int_field(*c, "reloads").value_or(-1);
  st.ok = bool_field(*c, "last_ok").value_or(false);
  st.error = string_field(*c, "last_error").value_or("");
  st.rules = int_field(*c, "rules").value_or(0);
  return st;
}

Result<std::map<std::string, ReloadState>> read_states(Redis& redis, const Options& opt, const std::string& host) {
  using R = Result<std::map<std::string, ReloadState>>;
  auto ws = fleet::read(redis, opt.heartbeat_ms, host);
  if (!ws) return R::error(ws.message());
  std::map<std::string, ReloadState> out;
  for (const auto& f : *ws) out[make_route(f.host(), f.worker())] = state_of(f.json());
  return out;
}

}  // namespace

int reload(Redis& redis, const std::string& host, const Options& opt) {
  if (host.empty()) {  // a reload without a host is every worker's: not what was asked
    fprintf(stderr, "tetherctl: expected a host id like h1\n");
    return 1;
  }
  auto before = read_states(redis, opt, host);
  if (!before) {
    fprintf(stderr, "tetherctl: %s\n", before.message().c_str());
    return 1;
  }
  if (before->empty()) {
    fprintf(stderr, "tetherctl: host %s has no live worker (see tetherctl workers)\n", host.c_str());
    return 1;
  }
  auto pub = publish(redis, BusMessage::reload(host));
  if (!pub) {
    fprintf(stderr, "tetherctl: %s\n", pub.message().c_str());
    return 1;
  }
  // Each worker's answer: its next heartbeat after the reload shows reloads
  // grown. A worker that left meanwhile has no answer.
  std::map<std::string, ReloadState> done;
  int64_t deadline = steady_micros() + 1000LL * (opt.wait_ms + 3LL * opt.heartbeat_ms);
  while (done.size() < before->size() && steady_micros() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(100, opt.heartbeat_ms)));  // polling Redis
    auto now = read_states(redis, opt, host);
    if (!now) continue;  // Redis gone for a moment: try again until the deadline
    for (const auto& [route, st] : *now) {
      auto was = before->find(route);
      if (was != before->end() && st.reloads > was->second.reloads) done[route] = st;
    }
  }
  int rc = 0;
  json out = json::array();
  for (const auto& [route, was] : *before) {
    auto it = done.find(route);
    std::string result = it == done.end() ? "no answer" : (it->second.ok ? "ok" : "failed");
    if (result != "ok") rc = 1;
    if (opt.json) {
      json row{{"worker", route}, {"result", result}};
      if (it != done.end()) {
        row["rules"] = it->second.rules;
        if (!it->second.ok) row["error"] = it->second.error;
      }
      out.push_back(row);
    } else if (it == done.end()) {
      printf("%-12s no answer%s\n", route.c_str(),
             was.reloads < 0 ? " (this tetherd does not report reloads)" : " (see its log)");
    } else if (it->second.ok) {
      printf("%-12s ok      %lld rules\n", route.c_str(), (long long)it->second.rules);
    } else {
      printf("%-12s failed  %s (the old rules stay)\n", route.c_str(), it->second.error.c_str());
    }
  }
  if (opt.json) printf("%s\n", json_text(json{{"reload", host}, {"workers", out}}).c_str());
  return rc;
}

}  // namespace tether::ctl
