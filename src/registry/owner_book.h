// OwnerBook: what the registry says of one session's owner, as the session
// route asks it (Registry implements it; the route's unit tests give a fake).
// See registry.h for what each answer means.
// Thread ownership: every call from any thread (acceptor threads).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/result.h"
#include "registry/entries.h"
#include "registry/recovery.h"
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
  // sid's owner `gone` (host, worker) is not in the directory or silent:
  // if the entry still names it, at epoch E, takes the entry over (to this
  // worker at E+1) when a checkpoint record of that owner at E exists whose
  // app known_app knows; if it names another worker, that one (Taken). See
  // registry/recovery.h for the answers; error when Redis cannot tell.
  virtual Result<registry::Recovery> recover(const SessionId& sid, const registry::Owner& gone,
                                             const std::function<bool(const std::string&)>& known_app) = 0;
};

}  // namespace tether
