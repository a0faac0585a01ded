// dispatch_request: what a worker does with one request read from FastCGI,
// between reading it and the templates' finish step: a forwarding peer's
// params (TETHER_*) are checked first (a proof that does not verify gets
// 403), a verified hand-over goes to the Handover, everything else to the
// Site's dispatch rules. The worker's FastCGI handler calls it; so does the
// request fuzz target (tests/fuzz/request_fuzz.cpp), which is why it is
// apart from worker.cpp.
// Thread ownership: runs on acceptor threads; the parts it is given are
// thread-safe and outlive the call.
#pragma once
#include <atomic>
#include <map>
#include <string>

#include "tether/request.h"
#include "tether/response.h"
#include "cluster/forwarder.h"
#include "cluster/handover.h"
#include "cluster/peer_auth.h"
#include "worker/site.h"

namespace tether {

struct DispatchParts {
  const PeerAuth& peer_auth;
  Forwarder& forwarder;
  Handover* handover;                // null without Redis
  std::atomic<int64_t>& forged_log;  // log::every's clock for the forged-proof line
};

// *rule (if given): the index of the dispatch rule that served it, or -1
// (none, or answered before the rules: forged proof, hand-over).
Response dispatch_request(const Site& site, Request& req, const std::map<std::string, std::string>& peer_params,
                          const DispatchParts& parts, int* rule = nullptr);

}  // namespace tether
