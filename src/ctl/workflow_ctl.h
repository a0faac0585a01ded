// tetherctl's workflow commands:
//   workflow list                 each configured workflow: waiting, running, tickets by status
//   workflow list NAME            that workflow's tickets (up to --limit): status, key, age, steps
//   workflow show TICKET          one ticket as JSON (status, times, steps)
//   workflow cancel TICKET        cancels a ticket that has not finished
//   workflow retry TICKET         puts a failed or cancelled ticket back in its queue
// A ticket is found by its UUID alone (SCAN over every workflow).
// Returns the exit code: 0 ok, 1 not found/refused/failed, 2 usage. Main thread only.
#pragma once
#include <string>
#include <vector>

#include "config/config.h"
#include "ctl/ctl.h"
#include "redis/redis.h"

namespace tether::ctl {

// args: everything after "workflow".
int workflow(Redis& redis, const Config& config, const std::vector<std::string>& args, const Options& opt);

}  // namespace tether::ctl
