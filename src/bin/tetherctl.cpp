// tetherctl: the operator's command line. Reads the same tether.json as
// tetherd to find Redis, then runs one command (see --help).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cache/settings.h"
#include "common/flags.h"
#include "config/config.h"
#include "ctl/ctl.h"
#include "ctl/journal_ctl.h"
#include "ctl/workflow_ctl.h"

namespace {

constexpr const char* kUsage =
    "usage: tetherctl [--config FILE] [--json] COMMAND [ARGS]\n"
    "  sessions [--limit N]   list sessions (SCAN) with owner, age, idle time; counts per worker\n"
    "  session SID            one session's registry entry (SID: its hex id or a unique prefix of 8+)\n"
    "  workers                live workers: address, pid, sessions, accepting, last heartbeat\n"
    "  kill SID               the owner ends the session and removes its entry\n"
    "  invalidate [--regex R] [--group G ...]\n"
    "                         drop matching cached pages on every worker of every host\n"
    "  push-file PATH [--as REL]\n"
    "                         copy a file to every worker's cache.docroot (as REL, default its name)\n"
    "  workflow list [NAME]   workflows: queued, processing, tickets by status; or NAME's tickets\n"
    "  workflow show|cancel|retry TICKET   one ticket as JSON; cancel it; run a failed one again\n"
    "  journal status         journal lists per domain and shippers per worker\n"
    "  journal consume --domain D [--batch N] [--lease-ms N] [--exec CMD] [--max N] [--once]\n"
    "                         take D's entries in order: print each (or pipe it to CMD), then remove it\n"
    "  status                 every live worker's figures (from its heartbeat): requests, sessions, forwarding\n"
    "  drain WORKER [--wait-ms N]\n"
    "                         WORKER (e.g. h1-2) hands its sessions over and exits, as on SIGTERM\n"
    "  restart --rolling [HOST]\n"
    "                         each worker of HOST (default: the config's host) in turn: drain it (sessions\n"
    "                         handed over), wait until supervisord has it back, then the next\n"
    "  reload [HOST]          every worker of HOST (default: the config's host) re-reads its rules, as on\n"
    "                         SIGHUP; prints each worker's result (ok, failed: the old rules stay, no answer)\n"
    "  keys [HOST]            each live worker's token key ids (of HOST, default every host): the sealing\n"
    "                         key and the others; flags workers that seal with different keys (a rotation\n"
    "                         step in progress) or that lack a key another worker seals with\n"
    "  keygen PATH            write a new key file (mode 0600; never overwrites); needs no config\n"
    "  --config FILE          tether.json (default: $TETHER_CONFIG, else ./tether.json if it exists,\n"
    "                         else /etc/tether/tether.json)\n"
    "  --json                 JSON instead of tables\n";

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = tether::ctl::default_config_path();
  tether::ctl::Options opt;
  std::vector<std::string> args, journal_args;
  bool rolling = false, help = false;
  int64_t limit = static_cast<int64_t>(opt.limit), wait_ms = opt.wait_ms;
  tether::Flags flags("tetherctl");
  flags.flag("--help", &help).flag("-h", &help).flag("--rolling", &rolling).flag("--json", &opt.json);
  flags.text("--config", &config_path).text("--regex", &opt.regex).texts("--group", &opt.groups).text("--as", &opt.as);
  flags.integer("--limit", 0, 1000000000, &limit).integer("--wait-ms", 0, 3600000, &wait_ms);
  flags.stop_at("journal");  // its options are its own
  if (tether::Status s = flags.parse(argc, argv, &args); !s) {
    fprintf(stderr, "%s\n%s", s.message().c_str(), kUsage);
    return 2;
  }
  if (help) {
    printf("%s", kUsage);
    return 0;
  }
  opt.limit = static_cast<size_t>(limit);
  opt.wait_ms = static_cast<int>(wait_ms);
  if (!args.empty() && args[0] == "journal") journal_args.assign(args.begin() + 1, args.end());
  if (args.empty()) {
    fprintf(stderr, "%s", kUsage);
    return 2;
  }
  if (args[0] == "keygen") {
    if (args.size() != 2) {
      fprintf(stderr, "tetherctl: keygen takes 1 argument (the key file to write)\n%s", kUsage);
      return 2;
    }
    return tether::ctl::keygen(args[1]);
  }
  auto config = tether::load_config(config_path);
  if (!config) {
    fprintf(stderr, "tetherctl: %s\n", config.message().c_str());
    return 2;
  }
  if (!config->registry) {
    fprintf(stderr, "tetherctl: %s has no \"redis\" object: there is no registry to ask\n", config_path.c_str());
    return 2;
  }
  auto cache = tether::parse_cache_settings(config->cache, config->base_dir);
  if (!cache) {
    fprintf(stderr, "tetherctl: %s: %s\n", config_path.c_str(), cache.message().c_str());
    return 2;
  }
  opt.stream_maxlen = cache->stream_maxlen;
  tether::Redis redis(config->redis);
  if (tether::Status s = redis.connect(); !s) {
    fprintf(stderr, "tetherctl: %s\n", s.message().c_str());
    return 1;
  }
  const std::string& cmd = args[0];
  auto need = [&](size_t n) {
    if (args.size() == n + 1) return true;
    fprintf(stderr, "tetherctl: %s takes %zu argument(s)\n%s", cmd.c_str(), n, kUsage);
    return false;
  };
  if (cmd == "sessions") return need(0) ? tether::ctl::sessions(redis, opt) : 2;
  if (cmd == "session") return need(1) ? tether::ctl::session(redis, args[1], opt) : 2;
  if (cmd == "workers") return need(0) ? tether::ctl::workers(redis, opt) : 2;
  if (cmd == "journal") return tether::ctl::journal(redis, journal_args, opt);
  if (cmd == "kill") return need(1) ? tether::ctl::kill(redis, args[1], opt) : 2;
  if (cmd == "invalidate") return need(0) ? tether::ctl::invalidate(redis, opt) : 2;
  if (cmd == "push-file") return need(1) ? tether::ctl::push_file(redis, args[1], opt) : 2;
  if (cmd == "workflow") return tether::ctl::workflow(redis, *config, {args.begin() + 1, args.end()}, opt);
  if (cmd == "status") return need(0) ? tether::ctl::show_status(redis, opt) : 2;
  if (cmd == "restart") {
    if (!rolling || args.size() > 2) {
      fprintf(stderr, "tetherctl: restart takes --rolling and an optional HOST\n%s", kUsage);
      return 2;
    }
    if (opt.wait_ms != tether::ctl::Options{}.wait_ms) opt.restart_wait_ms = opt.wait_ms;
    opt.settle_ms = 3 * config->heartbeat_ms;
    return tether::ctl::rolling_restart(redis, args.size() == 2 ? args[1] : config->host, opt);
  }
  if (cmd == "reload") {
    if (args.size() > 2) {
      fprintf(stderr, "tetherctl: reload takes an optional HOST\n%s", kUsage);
      return 2;
    }
    opt.heartbeat_ms = config->heartbeat_ms;
    return tether::ctl::reload(redis, args.size() == 2 ? args[1] : config->host, opt);
  }
  if (cmd == "keys") {
    if (args.size() > 2) {
      fprintf(stderr, "tetherctl: keys takes an optional HOST\n%s", kUsage);
      return 2;
    }
    opt.heartbeat_ms = config->heartbeat_ms;
    return tether::ctl::keys(redis, args.size() == 2 ? args[1] : "", opt);
  }
  if (cmd == "drain") return need(1) ? tether::ctl::drain(redis, args[1], opt) : 2;
  fprintf(stderr, "tetherctl: unknown command %s\n%s", cmd.c_str(), kUsage);
  return 2;
}
