// The worker's two listening sockets, nginx's (`listen`, read by libfcgi)
// and the peers' (`peer_listen`, the peer channel: cluster/peer_server.h),
// and the options of the servers on them, all from the config. Main thread:
// at start, at stop and for --check-config.
#pragma once
#include "cluster/peer_server.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "config/config.h"
#include "fcgi/server.h"

namespace tether {

struct Listeners {
  unique_fd nginx;  // listen
  unique_fd peer;   // peer_listen
};

// Binds both (nginx's with listen_owner/_group/_mode; the peers' a unix
// socket of this user's alone, mode 0600: its callers authenticate anyway).
// Error (logged as listen_failed): nothing is left bound.
Result<Listeners> open_listeners(const Config& c);
// Removes both unix socket files, if they are files.
void remove_listener_files(const Config& c);
// --check-config: may this process bind both (see fcgi::check_listener)?
Status check_listeners(const Config& c);

fcgi::ServerOptions server_options(const Config& c);
PeerServerOptions peer_server_options(const Config& c);

}  // namespace tether
