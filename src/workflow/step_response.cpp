// Parsing of a step service's answer (see step_response.h).
#include "workflow/step_response.h"

#include "common/json.h"

namespace tether::workflow {
namespace {

using R = Result<StepResult>;

bool is_http_url(const std::string& u) { return u.rfind("http://", 0) == 0 || u.rfind("https://", 0) == 0; }

}  // namespace

Result<StepResult> parse_step_response(std::string_view body) {
  auto parsed = parse_json(body);
  if (!parsed) {
    return R::error(parsed.message() == "not valid JSON" ? "step answer is not JSON" : "step answer: " + parsed.message());
  }
  const nlohmann::json& j = *parsed;
  if (!j.is_object()) return R::error("step answer: expected a JSON object");
  StepResult out;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return R::error("step answer: field 'name': expected a non-empty string");
  }
  out.name = name->get<std::string>();
  if (auto d = j.find("data"); d != j.end()) out.data = *d;
  if (auto p = j.find("parallel"); p != j.end()) {
    if (!p->is_string() || (*p != "yes" && *p != "no")) {
      return R::error("step answer: field 'parallel': expected \"yes\" or \"no\"");
    }
    out.parallel = *p == "yes";
  }
  auto next = j.find("next");
  if (next == j.end() || next->is_null()) return out;
  if (!next->is_array()) return R::error("step answer: field 'next': expected an array");
  if (next->size() > kMaxNextSteps) {
    return R::error("step answer: field 'next': more than " + std::to_string(kMaxNextSteps) + " steps");
  }
  for (const auto& n : *next) {
    if (!n.is_object()) return R::error("step answer: field 'next': expected objects {\"name\", \"url\"}");
    auto nn = n.find("name");
    auto nu = n.find("url");
    if (nn == n.end() || !nn->is_string() || nn->get_ref<const std::string&>().empty()) {
      return R::error("step answer: field 'next[].name': expected a non-empty string");
    }
    if (nu == n.end() || !nu->is_string() || !is_http_url(nu->get<std::string>())) {
      return R::error("step answer: field 'next[].url': expected an http:// or https:// URL");
    }
    out.next.push_back(NextStep{nn->get<std::string>(), nu->get<std::string>()});
  }
  return out;
}

}  // namespace tether::workflow
