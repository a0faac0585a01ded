// The "template" rule kind: renders one template with a fixed context plus
// the request, for pages without code:
//   {"match": "^/about$", "template": "about"}
//   {"match": "^/news/(\\d+)$", "template": {"name": "news", "context": {"title": "News"}}}
// The context gains "request": {"path", "capture", "query": {name: value}}.
// Thread safety: immutable; serve() from any acceptor thread.
#pragma once
#include <memory>

#include "http/router.h"
#include "template/templates.h"

namespace tether {

class TemplateRoute final : public RouteHandler {
 public:
  // The template must exist in templates; the error says what was expected.
  static Result<std::unique_ptr<RouteHandler>> make(const nlohmann::json& spec, const Templates& templates);
  Response serve(Request& req, const RouteMatch& match) override;

 private:
  std::string name_;
  nlohmann::json context_;
};

}  // namespace tether
