// Fuzzes the workflow step answer parser (src/workflow/step_response): any
// bytes, as a step service's HTTP body. Checks what it promises: it never
// throws, and an accepted answer has a name and at most kMaxNextSteps next
// steps, each with a name and an http(s) url.
#include <cstdlib>
#include <string>

#include "workflow/step_response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto r = tether::workflow::parse_step_response(body);
  if (!r) {
    if (r.message().empty()) std::abort();  // a refusal always says why
    return 0;
  }
  if (r->name.empty() || r->next.size() > tether::workflow::kMaxNextSteps) std::abort();
  for (const auto& n : r->next) {
    if (n.name.empty() || (n.url.rfind("http://", 0) != 0 && n.url.rfind("https://", 0) != 0)) std::abort();
  }
  return 0;
}
