// The demo workflow's step services, as one stateless controller
// ("demo_steps", rule {"match": "^/demo/steps/", "controller": "demo_steps"}):
//   start     -> "fetch", then "resize" and "thumbnail" in parallel
//   resize    -> then "publish"
//   thumbnail -> (end)
//   publish   -> (end)
//   chain?n=N -> a sequence of N more "chain" steps (the benchmark's workflow)
// Each answers the step protocol (workflow/step_response.h); next-step URLs
// are relative to the "url" the engine says it called, so it works behind any
// nginx address.
// Thread safety: stateless; runs on any acceptor thread.
#pragma once
#include "tether/request.h"
#include "tether/response.h"

namespace demo {

tether::Response workflow_step(const tether::Request& req);

}  // namespace demo
