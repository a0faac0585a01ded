// What a step service answers, parsed: a pure function of the body (no I/O,
// no state), so a libFuzzer target can call it directly.
//   {"name": "resize", "data": <any JSON>, "next": [{"name": "...", "url": "http://..."}],
//    "parallel": "yes" | "no"}
// "name" is required; "data" defaults to null, "next" to [] (the chain ends),
// "parallel" to "no". Anything else is an error naming the field; an answer
// nested deeper than kMaxJsonDepth (common/json.h) is refused before it is parsed.
// Thread safety: stateless; call from any thread.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tether::workflow {

struct NextStep {
  std::string name;
  std::string url;  // http:// or https://
};

struct StepResult {
  std::string name;
  nlohmann::json data;  // null when absent
  std::vector<NextStep> next;
  bool parallel = false;
};

constexpr size_t kMaxNextSteps = 64;  // more next steps in one answer is an error

Result<StepResult> parse_step_response(std::string_view body);

}  // namespace tether::workflow
