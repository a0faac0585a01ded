// RequestTrace: where one request spent its time, noted as it goes by the
// parts that serve it (the session rule: queue and session-thread time, the
// owner; forwarding: time waiting for a peer) and read by the slow log
// (ops/slow_log.h) when the reply is ready.
//
// Thread ownership: thread_local, one per acceptor thread; trace() is the
// calling thread's, for the request that thread is serving.
#pragma once
#include <cstdint>
#include <string>

#include "token/session_id.h"

namespace tether {

struct RequestTrace {
  int64_t queue_us = 0;    // posted -> the session thread took it
  int64_t session_us = 0;  // on the session thread
  int64_t forward_us = 0;  // waiting for a peer worker
  bool has_session = false;
  SessionId sid;
  std::string owner;  // route of the worker that ran it ("h1-2"), or a peer's address
};

// The calling thread's trace of the request it is serving.
RequestTrace& trace();

}  // namespace tether
