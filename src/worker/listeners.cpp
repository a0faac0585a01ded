// The worker's listeners and their servers' options (see listeners.h).
#include "worker/listeners.h"

#include "common/log.h"
#include "fcgi/listener.h"

namespace tether {
namespace {

// nginx's socket: owner, group and mode from the config (php-fpm's listen.*).
fcgi::ListenOptions nginx_socket(const Config& c) {
  return fcgi::ListenOptions{c.listen_owner, c.listen_group, c.listen_mode};
}
fcgi::ListenOptions peer_socket() { return fcgi::ListenOptions{"", "", 0600}; }

}  // namespace

Result<Listeners> open_listeners(const Config& c) {
  using R = Result<Listeners>;
  Listeners l;
  auto nginx = fcgi::open_listener(c.listen, nginx_socket(c));
  if (!nginx) {
    log::error("listen_failed", {{"listen", c.listen}, {"error", nginx.message()}});
    return R::error(nginx.message());
  }
  l.nginx = unique_fd(*nginx);
  auto peer = fcgi::open_listener(c.peer_listen, peer_socket());
  if (!peer) {
    log::error("listen_failed", {{"peer_listen", c.peer_listen}, {"error", peer.message()}});
    fcgi::remove_listener_file(c.listen);
    return R::error(peer.message());
  }
  l.peer = unique_fd(*peer);
  return l;
}

void remove_listener_files(const Config& c) {
  fcgi::remove_listener_file(c.listen);
  fcgi::remove_listener_file(c.peer_listen);
}

Status check_listeners(const Config& c) {
  if (Status s = fcgi::check_listener(c.listen, nginx_socket(c)); !s) return s;
  return fcgi::check_listener(c.peer_listen, peer_socket());
}

fcgi::ServerOptions server_options(const Config& c) {
  return fcgi::ServerOptions{c.acceptor_threads, c.max_acceptor_threads, c.max_body_bytes, c.keepalive_idle_s,
                             c.max_params_bytes};
}

PeerServerOptions peer_server_options(const Config& c) {
  PeerServerOptions o;
  o.route = c.route();
  o.addresses = {c.peer_listen, c.advertise};
  o.max_body_bytes = c.max_body_bytes;
  o.max_params_bytes = c.max_params_bytes;
  o.idle_s = c.keepalive_idle_s;
  o.request_timeout_s = c.request_timeout_s;
  o.max_connections = c.max_acceptor_threads;
  return o;
}

}  // namespace tether
