// tetherctl keys (see ctl.h): each live worker's token key ids, read from
// the "keys" section of its heartbeat figures (ops/key_figures.h), and what
// they say together: do the workers agree on the sealing key, does each
// hold every key another one seals with. Main thread only.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "common/json.h"
#include "common/route.h"
#include "ctl/ctl.h"
#include "ops/fleet.h"
#include "ops/key_figures.h"

namespace tether::ctl {
namespace {

using nlohmann::json;

std::string joined(const std::vector<std::string>& ids, const char* sep = " ") {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : sep) + id;
  return out;
}

}  // namespace

int keys(Redis& redis, const std::string& host, const Options& opt) {
  auto ws = fleet::read(redis, opt.heartbeat_ms, host);
  if (!ws) {
    fprintf(stderr, "tetherctl: %s\n", ws.message().c_str());
    return 1;
  }
  if (ws->empty()) {
    fprintf(stderr, "tetherctl: no live worker%s (see tetherctl workers)\n",
            host.empty() ? "" : (" on host " + host).c_str());
    return 1;
  }
  std::map<std::string, KeyHolding> held;
  std::map<std::string, std::string> unknown;  // route -> why
  std::vector<std::string> order;
  for (const auto& f : *ws) {
    std::string route = make_route(f.host(), f.worker());
    order.push_back(route);
    WorkerKeys k = read_worker_keys(f.json(), route);  // a bad section is counted there
    if (k.held) {
      held[route] = std::move(*k.held);
    } else {
      unknown[route] = k.unknown;
    }
  }
  KeyCheck check = check_keys(held);
  int rc = check.missing.empty() && unknown.empty() ? 0 : 1;
  if (opt.json) {
    json rows = json::array();
    for (const auto& route : order) {
      json row{{"worker", route}};
      if (auto it = held.find(route); it != held.end()) {
        row["sealing"] = it->second.sealing;
        row["others"] = it->second.others;
        if (auto m = check.missing.find(route); m != check.missing.end()) row["missing"] = m->second;
      } else {
        row["unknown"] = unknown[route];
      }
      rows.push_back(row);
    }
    json out{{"workers", rows}, {"sealing_ids", check.sealing_ids}, {"agree", check.agree()},
             {"ok", rc == 0}};  // every worker reported and none lacks a key another seals with
    printf("%s\n", json_text(out).c_str());
    return rc;
  }
  printf("%-12s %-8s %s\n", "WORKER", "SEALING", "OTHERS");
  for (const auto& route : order) {
    if (auto it = held.find(route); it != held.end()) {
      const auto& h = it->second;
      std::string others = h.others.empty() ? "-" : joined(h.others);
      auto m = check.missing.find(route);
      if (m != check.missing.end()) others += "   LACKS " + joined(m->second);
      printf("%-12s %-8s %s\n", route.c_str(), h.sealing.c_str(), others.c_str());
    } else {
      printf("%-12s %-8s %s\n", route.c_str(), "?", unknown[route].c_str());
    }
  }
  if (check.sealing_ids.size() == 1) {
    printf("every worker seals with key %s\n", check.sealing_ids[0].c_str());
  } else if (!check.agree()) {
    printf("the workers seal with different keys (%s): a rotation step is in progress\n",
           joined(check.sealing_ids, ", ").c_str());
  }
  for (const auto& [route, ids] : check.missing) {
    printf("%s lacks key %s that another worker seals with: sessions and forwarded requests sealed with it fail "
           "there\n",
           route.c_str(), joined(ids, ", ").c_str());
  }
  return rc;
}

}  // namespace tether::ctl
