// dispatch_request: what a worker does with one request read from FastCGI,
// between reading it and the templates' finish step: a request with a
// forwarding peer's params goes through the cluster's PeerGate first (proof,
// hang-up, ack, hand-over), then everything goes to the Site's dispatch
// rules. The worker's FastCGI handler calls it; so does the request fuzz
// target (tests/fuzz/request_fuzz.cpp), which is why it is apart from
// worker.cpp.
// Thread ownership: runs on acceptor threads; the parts it is given are
// thread-safe and outlive the call.
#pragma once
#include <map>
#include <string>

#include "cluster/peer_gate.h"
#include "fcgi/connection.h"
#include "tether/request.h"
#include "tether/response.h"
#include "worker/site.h"

namespace tether {

// side_params: the request's kPeerParamPrefix params (empty: from nginx).
// *rule (if given): the index of the dispatch rule that served it, or -1
// (none, or answered before the rules by the gate).
Response dispatch_request(const Site& site, Request& req, const std::map<std::string, std::string>& side_params,
                          fcgi::Connection& conn, PeerGate& gate, int* rule = nullptr);

}  // namespace tether
