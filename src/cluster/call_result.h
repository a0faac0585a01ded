// CallResult: what a call to another worker came back with (the peer
// client's answer, PeerClient::call; the forwarder and the session route
// act on its kind). A plain value: no thread ownership.
#pragma once
#include <string>

#include "tether/response.h"

namespace tether {

struct CallResult {
  enum class Kind {
    Ok,           // response holds the other worker's reply
    Unreachable,  // could not connect
    NoAnswer,     // connected, but nothing came back within the quick timeout (or it closed)
    Failed,       // the reply broke off, was malformed, or took longer than the whole call's bound
  };
  Kind kind = Kind::Failed;
  Response response;
  std::string error;
};

}  // namespace tether
