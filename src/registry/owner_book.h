// OwnerBook: what the registry says of one session's owner, as the session
// route asks it (Registry implements it; the route's unit tests give a fake).
// See registry.h for what each answer means.
// Thread ownership: every call from any thread (acceptor threads).
#pragma once
#include <cstdint>
#include <optional>

#include "common/result.h"
#include "registry/entries.h"
#include "token/session_id.h"

namespace tether {

class OwnerBook {
 public:
  virtual ~OwnerBook() = default;
  // The session's registry entry (nullopt: none); error when Redis cannot tell.
  virtual Result<std::optional<registry::SessionEntry>> lookup(const SessionId& sid) = 0;
  // A hand-over fence of sid failed and none has told since.
  virtual bool unsettled(const SessionId& sid) = 0;
  // Fences sid again: nullopt, it is this worker's; else its owner now.
  virtual Result<std::optional<registry::Owner>> settle(const SessionId& sid) = 0;
  // sid left this worker: its pending report and epoch go.
  virtual void forget(const SessionId& sid) = 0;
  // The epoch this worker holds sid at.
  virtual int64_t epoch(const SessionId& sid) = 0;
};

}  // namespace tether
