// SessionJob: one request handed from an acceptor thread to a session thread.
// Shared by both (shared_ptr): the acceptor may give up waiting (timeout)
// while the session thread still holds it. Fields above "results" are
// written by the acceptor before posting; results are written by the
// session thread before done is released, and read by the acceptor after.
#pragma once
#include <atomic>
#include <memory>
#include <semaphore>

#include "tether/app.h"
#include "tether/request.h"
#include "tether/response.h"
#include "token/session_id.h"

namespace tether {

struct SessionJob {
  Request request;
  const SessionFactory* factory = nullptr;  // makes the session if a new one is needed
  SessionId sid;                            // the session asked for, or the new id to use
  bool existing = false;                    // sid came from a valid cookie for this worker
  StartReason reason_if_new = StartReason::New;

  // results
  Response response;
  bool created = false;      // a new session was made: set its cookie
  SessionId created_sid;
  bool ended = false;        // the session ended after this request: clear the cookie

  std::atomic<bool> abandoned{false};  // the acceptor stopped waiting
  std::binary_semaphore done{0};
};

using SessionJobPtr = std::shared_ptr<SessionJob>;

}  // namespace tether
