// tetherctl journal ...: the journal's lists and shippers as seen in Redis.
//   journal status                 per domain: waiting, leased, oldest; per worker: pending on disk,
//                                  oldest unshipped, shipped/s (published by each shipper every second)
//   journal consume --domain D [--batch N] [--lease-ms N] [--exec CMD] [--max N] [--once]
//                                  takes D's entries in order and prints each as a JSON line (or runs
//                                  CMD with it on stdin: exit 0 = done); removes an entry only after that
// Main thread only; returns the process exit code.
#pragma once
#include <string>
#include <vector>

#include "ctl/ctl.h"
#include "redis/redis.h"

namespace tether::ctl {

int journal(Redis& redis, const std::vector<std::string>& args, const Options& opt);

}  // namespace tether::ctl
