// The demo workflow's steps (see workflow_steps.h).
#include "apps/demo/workflow_steps.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/json.h"

namespace demo {

tether::Response workflow_step(const tether::Request& req) {
  using nlohmann::json;
  // The body is outside input: parsed with a depth bound, read with typed readers.
  auto parsed = tether::parse_json(req.body);
  const json in = parsed ? std::move(*parsed) : json();
  const auto key_field = tether::string_field(in, "key");
  const auto url_field = tether::string_field(in, "url");
  if (!key_field || !url_field) {
    return tether::Response::json(
        tether::json_text(json{{"error", "expected {\"key\": ..., \"url\": ..., \"data\": ...}"}}), 400);
  }
  const std::string key = *key_field;
  // Next steps are named relative to the URL the engine called (in the body).
  std::string self = *url_field;
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
    out = {{"name", "publish"}, {"data", {{"url", "/images/" + key}, {"from", tether::field(in, "data") ? *tether::field(in, "data") : json()}}}};
  } else if (step == "chain") {
    // A sequence of n more steps (make bench measures the engine's cost per step with it).
    int n = std::max(0, std::min(1000, std::atoi(req.query_param("n").c_str())));
    out = {{"name", "chain"}, {"data", {{"left", n}}}};
    if (n > 0) out["next"] = {{{"name", "chain"}, {"url", base + "chain?n=" + std::to_string(n - 1)}}};
  } else {
    // step comes from the path (any bytes): json_text replaces invalid UTF-8.
    return tether::Response::json(tether::json_text(json{{"error", "no step '" + step + "'"}}), 404);
  }
  return tether::Response::json(tether::json_text(out));
}

}  // namespace demo
