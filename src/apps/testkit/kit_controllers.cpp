// The test kit's controllers and cache hook (see kit_controllers.h).
#include "apps/testkit/kit_controllers.h"

#include <unistd.h>

#include <atomic>
#include <sstream>

#include "tether/cache.h"

namespace testkit {
namespace {

using tether::Request;
using tether::Response;

std::atomic<uint64_t> g_renders{0};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, ',');) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

}  // namespace

void register_controllers(tether::App& app) {
  // "page <path>[?query] render=<n> pid=<pid>": n grows with every render on this worker.
  app.controller("kit_page", [](const Request& req) {
    return Response::text("page " + req.path + (req.query.empty() ? "" : "?" + req.query) +
                          " render=" + std::to_string(++g_renders) + " pid=" + std::to_string(getpid()) + "\n");
  });
  // The template "kit/page" with the render count, ?h=headline and ten items.
  app.controller("kit_render", [](const Request& req) {
    nlohmann::json items = nlohmann::json::array();
    for (int i = 0; i < 10; ++i) {
      items.push_back({{"kind", i % 2 ? "odd" : "even"}, {"name", "item " + std::to_string(i)}, {"value", i * 7}});
    }
    return Response::render("kit/page", {{"n", ++g_renders}, {"path", req.path}, {"headline", req.query_param("h")},
                                         {"items", std::move(items)}});
  });
  // POST regex=...&groups=a,b: tether::cache::invalidate; 400 with the reason when refused.
  app.controller("kit_invalidate", [](const Request& req) {
    auto r = tether::cache::invalidate({req.form_param("regex"), split_commas(req.form_param("groups"))});
    return r ? Response::text("invalidated\n") : Response::text(r.error + "\n", 400);
  });
  // POST ?status=N: answers N; group "saved" is invalidated only when N < 400.
  app.controller("kit_save", tether::cache::invalidate_if_ok(
                                 [](const Request& req) {
                                   int status = std::atoi(req.query_param("status").c_str());
                                   return Response::text("saved\n", status > 0 ? status : 200);
                                 },
                                 {"", {"saved"}}));
  app.cache_hook("kit_anonymous", [](const Request& req) {
    tether::cache::Decision d;
    if (!req.cookie("user").empty()) d.read = d.write = false;
    return d;
  });
}

}  // namespace testkit
