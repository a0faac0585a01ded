// tetherctl status and drain (see ctl.h): every worker's figures from its
// heartbeat hash, a drain request sent over the bus, a rolling restart made
// of drains; keygen and the
// default config path, which need no Redis.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include <algorithm>

#include "common/clock.h"
#include "common/json.h"
#include "common/route.h"
#include "common/unique_fd.h"
#include "ctl/ctl.h"
#include "ops/fleet.h"
#include "ops/metrics.h"
#include "redis/bus.h"
#include "registry/entries.h"

namespace tether::ctl {
namespace {

using nlohmann::json;

constexpr int64_t kLiveMs = 10000 / 3;  // "live": a heartbeat in the last 10 s (tetherctl does not know the interval)

// A figure of a decoded worker's section; 0 when absent or not an integer.
int64_t figure(const json& w, const char* section, const char* name) {
  const json* s = field(w, section);
  if (s == nullptr) return 0;
  const json* v = field(*s, name);
  if (v == nullptr || !v->is_number()) return 0;
  return v->is_number_float() ? static_cast<int64_t>(std::min(9e18, std::max(-9e18, v->get<double>())))
                              : v->get<int64_t>();
}

int64_t ended(const json& w) {
  const json* s = field(w, "sessions");
  const json* e = s ? field(*s, "ended") : nullptr;
  int64_t n = 0;
  if (e == nullptr || !e->is_object()) return 0;
  for (const auto& [reason, v] : e->items()) n += v.is_number_integer() ? v.get<int64_t>() : 0;
  return n;
}

std::string uptime(const json& w) {
  int64_t started = int_field(w, "started").value_or(0);
  if (started == 0) return "-";
  int64_t s = unix_seconds() - started;
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  return std::to_string(s / 3600) + "h";
}

std::string redis_state(const json& w) {
  const json* r = field(w, "redis");
  if (r == nullptr) return "-";
  return bool_field(*r, "up").value_or(false) ? "up" : "down";
}

}  // namespace

int show_status(Redis& redis, const Options& opt) {
  auto ws = fleet::read(redis, kLiveMs);
  if (!ws) {
    fprintf(stderr, "tetherctl: %s\n", ws.message().c_str());
    return 1;
  }
  if (opt.json) {
    printf("%s\n", json_text(json{{"workers", *ws}, {"total", metrics::sum(*ws)}}, 2).c_str());
    return 0;
  }
  printf("%-10s %-8s %-6s %-4s %10s %6s %8s %8s %8s %8s %8s %6s %5s\n", "WORKER", "PID", "UP", "ACPT", "REQUESTS",
         "FLIGHT", "SESSIONS", "CREATED", "ENDED", "FWD_OUT", "FWD_IN", "SLOW", "REDIS");
  for (const auto& f : *ws) {
    const json& w = f.json();
    std::string name = make_route(f.host(), f.worker());
    printf("%-10s %-8lld %-6s %-4s %10lld %6lld %8lld %8lld %8lld %8lld %8lld %6lld %5s\n", name.c_str(),
           static_cast<long long>(int_field(w, "pid").value_or(0)), uptime(w).c_str(),
           bool_field(w, "accepting").value_or(false) ? "yes" : "no", (long long)figure(w, "requests", "accepted"),
           (long long)figure(w, "requests", "in_flight"), (long long)figure(w, "sessions", "live"),
           (long long)figure(w, "sessions", "created"), (long long)ended(w), (long long)figure(w, "forward", "out"),
           (long long)figure(w, "forward", "in"), (long long)figure(w, "requests", "slow"), redis_state(w).c_str());
  }
  json t = metrics::sum(*ws);
  printf("%zu workers; %lld requests, %lld sessions live\n", ws->size(), (long long)figure(t, "requests", "accepted"),
         (long long)figure(t, "sessions", "live"));
  return 0;
}

// Sends a drain to worker (HOST-N) and waits up to wait_ms until it left the
// directory (*gone). Errors go to stderr; returns the exit code.
static int request_drain(Redis& redis, const std::string& worker, int wait_ms, bool* gone_out) {
  std::string host;
  int n = 0;
  if (!parse_route(worker, &host, &n)) {
    fprintf(stderr, "tetherctl: expected a worker as HOST-N (e.g. h1-2), got \"%s\"\n", worker.c_str());
    return 2;
  }
  auto live = [&]() -> Result<bool> {
    auto ws = registry::read_workers(redis, unix_millis(), kLiveMs);
    if (!ws) return ws.status();
    for (const auto& w : *ws) {
      if (w.host == host && w.worker == n) return true;
    }
    return false;
  };
  auto is_live = live();
  if (!is_live) {
    fprintf(stderr, "tetherctl: %s\n", is_live.message().c_str());
    return 1;
  }
  if (!*is_live) {
    fprintf(stderr, "tetherctl: no live worker %s (see tetherctl workers)\n", worker.c_str());
    return 1;
  }
  auto pub = publish(redis, BusMessage::drain(worker));
  if (!pub) {
    fprintf(stderr, "tetherctl: %s\n", pub.message().c_str());
    return 1;
  }
  if (*pub == 0) {
    fprintf(stderr, "tetherctl: no worker listens on the bus; nothing drained\n");
    return 1;
  }
  // The worker leaves the directory when its drain is over.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  bool gone = false;
  while (std::chrono::steady_clock::now() < deadline) {
    auto still = live();
    if (still && !*still) {
      gone = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling a condition in Redis
  }
  *gone_out = gone;
  return 0;
}

int drain(Redis& redis, const std::string& worker, const Options& opt) {
  bool gone = false;
  if (int rc = request_drain(redis, worker, opt.wait_ms, &gone); rc != 0) return rc;
  if (opt.json) {
    printf("%s\n", json_text(json{{"drain", worker}, {"done", gone}}).c_str());
  } else {
    printf(gone ? "drained %s\n" : "draining %s (still in the directory; see tetherctl workers)\n", worker.c_str());
  }
  return 0;
}

int rolling_restart(Redis& redis, const std::string& host, const Options& opt) {
  auto ws = registry::read_workers(redis, unix_millis(), kLiveMs);
  if (!ws) {
    fprintf(stderr, "tetherctl: %s\n", ws.message().c_str());
    return 1;
  }
  std::vector<registry::WorkerInfo> pool;
  for (const auto& w : *ws) {
    if (w.host == host) pool.push_back(w);
  }
  std::sort(pool.begin(), pool.end(), [](const auto& a, const auto& b) { return a.worker < b.worker; });
  if (pool.size() < 2) {
    fprintf(stderr, "tetherctl: host %s has %zu live worker(s): a rolling restart needs 2 or more to hand over to\n",
            host.c_str(), pool.size());
    return 1;
  }
  json report = json::array();
  int rc = 0;
  for (const auto& w : pool) {
    std::string route = make_route(w.host, w.worker);
    auto t0 = std::chrono::steady_clock::now();
    bool gone = false;
    int d = request_drain(redis, route, opt.restart_wait_ms, &gone);
    // Back: the same route live again, another pid, accepting sessions.
    bool back = false;
    auto deadline = t0 + std::chrono::milliseconds(opt.restart_wait_ms);
    while (d == 0 && std::chrono::steady_clock::now() < deadline) {
      auto now = registry::read_workers(redis, unix_millis(), kLiveMs);
      if (now) {
        for (const auto& n : *now) {
          if (n.host == w.host && n.worker == w.worker && n.pid != w.pid && n.accepting) back = true;
        }
      }
      if (back) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling a condition in Redis
    }
    int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    report.push_back({{"worker", route}, {"old_pid", w.pid}, {"restarted", back}, {"ms", ms}});
    if (!opt.json) {
      printf(back ? "%s: restarted in %lld ms\n" : "%s: did not come back in %lld ms; stopping here\n", route.c_str(),
             static_cast<long long>(ms));
      fflush(stdout);
    }
    if (!back) {
      rc = 1;
      break;
    }
    // The next worker to drain hands its sessions over to the workers in its
    // own directory: let every worker read this one back in first.
    if (&w != &pool.back()) std::this_thread::sleep_for(std::chrono::milliseconds(opt.settle_ms));
  }
  if (opt.json) printf("%s\n", json_text(json{{"restart", report}}).c_str());
  return rc;
}

int keygen(const std::string& path) {
  if (sodium_init() < 0) {
    fprintf(stderr, "tetherctl: libsodium failed to initialise\n");
    return 1;
  }
  unsigned char key[32];
  randombytes_buf(key, sizeof key);
  char hex[2 * sizeof key + 1];
  sodium_bin2hex(hex, sizeof hex, key, sizeof key);
  sodium_memzero(key, sizeof key);
  std::string text = "# tether session token keys: one per line, 64 hex digits; the first seals new tokens\n";
  text += hex;
  text += "\n";
  sodium_memzero(hex, sizeof hex);
  // O_EXCL: never replace a key in use; 0600 whatever the umask.
  unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) {
    fprintf(stderr, "tetherctl: keygen %s: %s\n", path.c_str(),
            errno == EEXIST ? "exists already (remove it first to replace the keys)" : strerror(errno));
    return 1;
  }
  bool ok = ::fchmod(fd.get(), 0600) == 0 &&
            ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd.get()) == 0 && ok;
  ok = fd.close() == 0 && ok;  // close(2)'s error counts: the key may not be on disk
  sodium_memzero(text.data(), text.size());
  if (!ok) {
    fprintf(stderr, "tetherctl: keygen %s: write failed: %s\n", path.c_str(), strerror(errno));
    ::unlink(path.c_str());
    return 1;
  }
  printf("tetherctl: wrote a new key to %s (mode 0600; tetherd's user must own it)\n", path.c_str());
  return 0;
}

std::string default_config_path() {
  if (const char* env = getenv("TETHER_CONFIG"); env && *env) return env;
  struct stat st{};
  if (::stat("tether.json", &st) == 0) return "tether.json";
  return "/etc/tether/tether.json";
}

}  // namespace tether::ctl
