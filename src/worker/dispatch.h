// What a worker does with one request, between reading it and the
// templates' finish step: a request from nginx goes straight to the Site's
// dispatch rules; one a peer forwarded over the peer channel goes through
// the cluster's PeerGate first (hang-up, ack, hand-over), then to the rules
// with its Forwarded. The worker's two servers call these; so does the
// request fuzz target (tests/fuzz/request_fuzz.cpp), which is why they are
// apart from worker.cpp.
// Thread ownership: runs on acceptor and peer connection threads; the parts
// it is given are thread-safe and outlive the call.
#pragma once
#include "cluster/forwarded.h"
#include "cluster/peer_gate.h"
#include "fcgi/connection.h"
#include "tether/request.h"
#include "tether/response.h"
#include "worker/site.h"

namespace tether {

// *rule (if given): the index of the dispatch rule that served it, or -1
// (none, or answered before the rules by the gate).
Response dispatch_request(const Site& site, Request& req, int* rule = nullptr);
Response dispatch_peer_request(const Site& site, Request& req, const Forwarded& from, fcgi::Connection& conn,
                               PeerGate& gate, int* rule = nullptr);

}  // namespace tether
