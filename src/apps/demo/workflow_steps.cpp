// The demo workflow's steps (see workflow_steps.h).
#include "apps/demo/workflow_steps.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace demo {

tether::Response workflow_step(const tether::Request& req) {
  using nlohmann::json;
  json in = json::parse(req.body, nullptr, false);
  if (!in.is_object() || !in.contains("key") || !in["key"].is_string() || !in.contains("url") ||
      !in["url"].is_string()) {
    return tether::Response::json(json{{"error", "expected {\"key\": ..., \"url\": ..., \"data\": ...}"}}.dump(), 400);
  }
  const std::string key = in["key"].get<std::string>();
  // Next steps are named relative to the URL the engine called (in the body).
  std::string self = in.value("url", "");
  self = self.substr(0, self.find('?'));
  const std::string base = self.substr(0, self.rfind('/') + 1);
  const std::string step = req.path.substr(req.path.rfind('/') + 1);
  json out;
  if (step == "start") {
    out = {{"name", "fetch"},
           {"data", {{"image", key}, {"bytes", 1000 * key.size()}}},
           {"next", {{{"name", "resize"}, {"url", base + "resize"}}, {{"name", "thumbnail"}, {"url", base + "thumbnail"}}}},
           {"parallel", "yes"}};
  } else if (step == "resize") {
    out = {{"name", "resize"},
           {"data", {{"image", key}, {"width", 1024}}},
           {"next", {{{"name", "publish"}, {"url", base + "publish"}}}}};
  } else if (step == "thumbnail") {
    out = {{"name", "thumbnail"}, {"data", {{"image", key}, {"width", 128}}}};
  } else if (step == "publish") {
    out = {{"name", "publish"}, {"data", {{"url", "/images/" + key}, {"from", in.value("data", json())}}}};
  } else if (step == "chain") {
    // A sequence of n more steps (make bench measures the engine's cost per step with it).
    int n = std::max(0, std::min(1000, std::atoi(req.query_param("n").c_str())));
    out = {{"name", "chain"}, {"data", {{"left", n}}}};
    if (n > 0) out["next"] = {{{"name", "chain"}, {"url", base + "chain?n=" + std::to_string(n - 1)}}};
  } else {
    return tether::Response::json(json{{"error", "no step '" + step + "'"}}.dump(), 404);
  }
  return tether::Response::json(out.dump());
}

}  // namespace demo
