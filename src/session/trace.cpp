// The per-thread request trace (see trace.h).
#include "session/trace.h"

namespace tether {

RequestTrace& trace() {
  thread_local RequestTrace t;
  return t;
}

}  // namespace tether
