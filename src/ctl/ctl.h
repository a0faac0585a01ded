// tetherctl's commands: what an operator asks of the registry in Redis.
// Each command prints a human table, or JSON with --json, and returns the
// process exit code (0 ok, 1 not found or failed). Main thread only.
#pragma once
#include <string>
#include <vector>

#include "redis/redis.h"

namespace tether::ctl {

struct Options {
  bool json = false;
  size_t limit = 100;  // rows listed by `sessions`
  int wait_ms = 3000;  // `kill`: how long to wait for the owner to end it
  std::string regex;                // `invalidate --regex`
  std::vector<std::string> groups;  // `invalidate --group` (repeatable)
  std::string as;                   // `push-file --as`: path under the docroot
  size_t stream_maxlen = 10000;     // cache.stream_maxlen of the config
  int restart_wait_ms = 60000;      // `restart --rolling`: longest wait for each worker to drain and come back
  int settle_ms = 3000;             // ... then this long, so every worker's directory (read each heartbeat) has it
  int heartbeat_ms = 1000;          // heartbeat_ms of the config (`reload` waits for figures written with it)
};

int sessions(Redis& redis, const Options& opt);
int session(Redis& redis, const std::string& sid, const Options& opt);
int workers(Redis& redis, const Options& opt);
int kill(Redis& redis, const std::string& sid, const Options& opt);
// Cache (cache_ctl.cpp): broadcast an invalidation; copy a file to every docroot.
int invalidate(Redis& redis, const Options& opt);
int push_file(Redis& redis, const std::string& path, const Options& opt);
// Operating (ops_ctl.cpp): every worker's figures; drain one worker (HOST-N).
int show_status(Redis& redis, const Options& opt);
int drain(Redis& redis, const std::string& worker, const Options& opt);
// `tetherctl restart --rolling [HOST]`: each live worker of HOST in turn is
// drained (its sessions handed over) and must come back (a new pid in the
// directory, accepting: supervisord restarts it) before the next one goes.
// Stops at the first worker that does not come back in restart_wait_ms.
int rolling_restart(Redis& redis, const std::string& host, const Options& opt);
// `tetherctl reload [HOST]` (reload_ctl.cpp): asks every live worker of
// HOST over the bus to re-read its rules (as SIGHUP), then waits (up to
// wait_ms + 3 heartbeats) until each one's heartbeat figures show a new
// reload and prints each worker's result: ok with its rule count, failed
// with the error (the old rules stay), or no answer. 0 only if all are ok.
int reload(Redis& redis, const std::string& host, const Options& opt);
// `tetherctl keys [HOST]` (keys_ctl.cpp): each live worker's token key ids
// (of HOST, or of every host) from its heartbeat figures: the sealing id and
// the others. Says when the workers seal with different keys (a rotation
// step in progress) and when a worker lacks a key another seals with (its
// sessions and forwarded requests would fail). 0 when every worker reported
// and none lacks a key; 1 otherwise.
int keys(Redis& redis, const std::string& host, const Options& opt);
// `tetherctl keygen PATH`: a new key file (one random key, mode 0600); an
// existing file is never overwritten. Needs no config and no Redis.
int keygen(const std::string& path);
// The config tetherctl reads: $TETHER_CONFIG, else ./tether.json when it
// exists, else /etc/tether/tether.json.
std::string default_config_path();

// Every key matching a SCAN pattern (never KEYS).
Result<std::vector<std::string>> scan_keys(Redis& redis, const std::string& match);

}  // namespace tether::ctl
