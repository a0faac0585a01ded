// fcgi::Connection: what a request handler may do with the connection its
// request came on before it answers. The server knows nothing of who sits
// at the other end; the layer above decides what these are for (the
// cluster: a forwarding peer that gave up is not served, and is told at
// once that this worker took its request).
//
// Thread ownership: one per request, used only by the acceptor thread that
// serves it, during the handler call.
#pragma once
#include <string_view>

namespace tether::fcgi {

class Connection {
 public:
  virtual ~Connection() = default;
  // The caller has closed the connection (or its sending side).
  virtual bool caller_gone() = 0;
  // Sends text on the request's FCGI_STDERR stream now, before the reply.
  virtual void early_note(std::string_view text) = 0;
  // No reply is written and the connection closes after this request
  // (counted in ServerStats::abandoned). The handler's Response is ignored.
  virtual void abandon() = 0;
};

}  // namespace tether::fcgi
