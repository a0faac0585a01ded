// The "template" rule kind (see template_route.h).
#include "template/template_route.h"

#include "http/parse.h"

namespace tether {

Result<std::unique_ptr<RouteHandler>> TemplateRoute::make(const nlohmann::json& spec, const Templates& templates) {
  using R = Result<std::unique_ptr<RouteHandler>>;
  auto r = std::make_unique<TemplateRoute>();
  if (spec.is_string()) {
    r->name_ = spec.get<std::string>();
  } else if (spec.is_object() && spec.contains("name") && spec["name"].is_string()) {
    r->name_ = spec["name"].get<std::string>();
    if (spec.contains("context")) {
      if (!spec["context"].is_object()) return R::error("context: expected an object, got " + spec["context"].dump());
      r->context_ = spec["context"];
    }
  } else {
    return R::error("expected a template name or {\"name\": ..., \"context\": {...}}, got " + spec.dump());
  }
  if (!templates.has(r->name_)) return R::error("no template '" + r->name_ + "' in the templates directory");
  return std::unique_ptr<RouteHandler>(std::move(r));
}

Response TemplateRoute::serve(Request& req, const RouteMatch& match) {
  nlohmann::json ctx = context_.is_null() ? nlohmann::json::object() : context_;
  nlohmann::json query = nlohmann::json::object();
  for (size_t pos = 0; pos < req.query.size();) {
    size_t amp = req.query.find('&', pos);
    std::string_view pair(req.query.data() + pos, (amp == std::string::npos ? req.query.size() : amp) - pos);
    size_t eq = pair.find('=');
    std::string name = http::percent_decode(pair.substr(0, eq), true);
    if (!name.empty() && !query.contains(name)) {
      query[name] = eq == std::string_view::npos ? "" : http::percent_decode(pair.substr(eq + 1), true);
    }
    pos = amp == std::string::npos ? req.query.size() : amp + 1;
  }
  ctx["request"] = {{"path", req.path}, {"capture", match.capture}, {"query", std::move(query)}};
  return Response::render(name_, std::move(ctx));
}

}  // namespace tether
