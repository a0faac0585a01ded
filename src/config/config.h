// Config: tether.json read and validated once at start-up.
// Every error names the file, the field and what was expected. After load
// the Config is immutable and may be read from any thread.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"
#include "redis/options.h"

namespace tether {

struct Config {
  std::string file;      // the path it was read from
  std::string base_dir;  // relative paths in the file are relative to this

  std::string host = "h1";       // [A-Za-z0-9_]{1,32}: names this host in routes
  int worker = 0;                // this worker's number, 0..65535
  // The nginx-facing listener (libfcgi): "unix:/path/w{worker}.sock", or a
  // TCP "IPv4:port" on loopback; another address only with
  // listen_network_trusted (libfcgi must be reachable by nginx alone).
  std::string listen;
  bool listen_network_trusted = false;
  // The peer listener (forwarding, hand-over; cluster/peer_server.h):
  // "unix:..." or "IPv4:port". Default for a unix listen: the same path
  // with ".peer.sock" for ".sock"; required when listen is TCP.
  std::string peer_listen;
  // A unix socket's access (php-fpm's listen.owner/.group/.mode): user and
  // group names or numbers ("" = as created), mode written as octal text.
  std::string listen_owner;
  std::string listen_group;
  unsigned listen_mode = 0660;
  int acceptor_threads = 16;     // acceptor threads started at once
  int max_acceptor_threads = 1024;  // ... grown to while connections need them
  int session_threads = 2;       // threads that own sessions
  // "inline": a request for an idle session runs on the thread that read
  // it; "pinned": every request runs on its session's thread (session/pool.h).
  std::string session_turns = "inline";
  int idle_timeout_s = 1800;     // a session ends after this long without a request
  int lifetime_s = 86400;        // ... and at this age whatever its activity
  int64_t max_body_bytes = 1 << 20;  // larger request bodies get 413
  int keepalive_idle_s = 75;     // idle kept-alive FastCGI connections close after this
  int drain_timeout_s = 20;      // SIGTERM: longest wait for requests in flight
  int request_timeout_s = 30;    // longest a request waits for its session thread
  int slow_request_ms = 0;       // requests slower than this are logged (0 = off)
  // Bounds (README "What tether refuses, and how"):
  int64_t max_sessions = 100000;    // sessions per worker; at it, new ones go elsewhere or get 503 + Retry-After
  int max_queued_per_session = 32;  // requests waiting for one session; beyond it 429 + Retry-After: 1
  int64_t max_params_bytes = 64 * 1024;  // FastCGI params (names + values) of one request; beyond it 431
  // Checkpoints (a session rule's "checkpoint"): a snapshot larger than this is skipped and counted.
  int64_t max_snapshot_bytes = 1 << 20;
  // Hibernation: at most this many sessions in memory per worker (0: no bound);
  // beyond it, the least recently used idle sessions of checkpointing apps
  // are written to Redis and dropped from memory until their next request.
  // A count, not bytes: an app's session memory cannot be measured honestly.
  int64_t max_live_sessions = 0;
  std::string key_file;          // session token keys (see token.h)
  // The session cookie: its name (letters, digits, '_': nginx's map reads it
  // as $cookie_NAME) and Path attribute. Two apps on one host name need two names.
  std::string cookie_name = "tether_sid";
  std::string cookie_path = "/";
  // Its attributes: "auto" marks it Secure when nginx says the request came
  // over HTTPS, "always" marks it Secure on every answer (behind a TLS
  // terminator, where nginx sees plain HTTP). SameSite is "Lax", "Strict" or
  // "None" (None needs cookie_secure "always"). cookie_host_prefix names the
  // cookie "__Host-<cookie_name>" (needs cookie_secure "always" and cookie_path "/").
  std::string cookie_secure = "auto";
  std::string cookie_samesite = "Lax";
  bool cookie_host_prefix = false;
  std::string peer_listen_pattern;  // peer_listen as written, before {worker} is replaced
  std::string advertise;         // where peers reach this worker's peer listener (default: peer_listen)

  bool registry = false;         // a "redis" object was given
  RedisOptions redis;            // "redis": {"host", "port", "password", "db", "prefix", ...}
  int heartbeat_ms = 1000;       // worker heartbeat in Redis; 3 missed = gone
  int quick_timeout_ms = 2000;   // an owner that does not answer in this long is lost
  std::string placement = "local";  // where new sessions go (see worker/placement.h)
  bool accept_sessions = true;   // false: a front-only worker that forwards every session
  nlohmann::json routes = nlohmann::json::array();  // dispatch rules, checked by the router
  std::string templates_dir;     // "templates": mustache files (default: "templates" beside the config)
  // Component sections, each validated by its own component when the worker
  // loads (cache/, journal/, workflow/); null when absent.
  nlohmann::json cache;          // "cache": response cache and invalidation
  nlohmann::json journal;        // "journal": durable journal and shipper
  nlohmann::json workflows;      // "workflows": workflow definitions

  std::string route() const;     // "{host}-{worker}"
  // The session cookie's name as the browser sends it: cookie_name, with
  // "__Host-" before it when cookie_host_prefix is set.
  std::string session_cookie() const;
};

struct ConfigOverrides {
  std::string host;
  int worker = -1;
  std::string listen;
  std::string peer_listen;
};

// Reads and validates the file; overrides (from flags) win over the file.
Result<Config> load_config(const std::string& path, const ConfigOverrides& overrides = {});
// The same, from JSON text (path is used in messages and for base_dir).
Result<Config> parse_config(const std::string& text, const std::string& path,
                            const ConfigOverrides& overrides = {});

// Resolves p against the config's directory unless it is absolute.
std::string resolve_path(const Config& c, const std::string& p);

}  // namespace tether
