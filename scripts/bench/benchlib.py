"""Shared pieces of `make bench` (bench.py) and `make bench-scale` (scale.py):
tool checks, one bounded wrk run through report.lua, Redis INFO through
redis-cli, a worker's /tether/status over its own FastCGI socket, RSS of a
pid, cookie harvesting over a kept-alive HTTP connection, machine facts and
tool versions, and the results.md file with one section per script.

Everything here talks to 127.0.0.1 or unix sockets only.
"""
import http.client
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "scripts"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import cluster  # noqa: E402
import fcgi  # noqa: E402

REPORT_LUA = os.path.join(HERE, "report.lua")
RESULTS_MD = os.environ.get("BENCH_RESULTS") or os.path.join(HERE, "results.md")
INSTALL_HINT = "run scripts/install-deps.sh --bench (as root)"


def env_int(name, default):
    v = os.environ.get(name, "")
    try:
        return int(v) if v else default
    except ValueError:
        sys.exit("bench: %s=%r is not an integer" % (name, v))


def env_float(name, default):
    v = os.environ.get(name, "")
    try:
        return float(v.rstrip("s")) if v else default
    except ValueError:
        sys.exit("bench: %s=%r is not a number" % (name, v))


def php_fpm_binary():
    found = shutil.which("php-fpm") or shutil.which("php-fpm8.2")
    if not found:
        for d in ("/usr/sbin", "/usr/local/sbin"):
            if os.path.isdir(d):
                for f in sorted(os.listdir(d), reverse=True):
                    if re.fullmatch(r"php-fpm[0-9.]*", f):
                        return os.path.join(d, f)
    return found


def php_missing():
    """None if the PHP row can run, else what is missing ("php-fpm", "php-redis")."""
    if not php_fpm_binary():
        return "php-fpm"
    try:
        modules = subprocess.run(["php", "-m"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        modules = ""
    return None if "redis" in modules else "php-redis"


def require_tools(names, php=False):
    """Exits with a clear message if a tool is missing."""
    missing = [n for n in names if not shutil.which(n)] + [m for m in [php and php_missing()] if m]
    if missing:
        sys.exit("bench: missing %s: %s" % (", ".join(missing), INSTALL_HINT))
    for b in ("tetherd", "fcgi_hello"):
        if not os.path.exists(os.path.join(cluster.build_dir(), "bin", b)):
            sys.exit("bench: %s/bin/%s is missing: run `make` first" % (cluster.build_dir(), b))


# ---- wrk
def wrk(url, threads, connections, duration, cookie_file=None, cookie_name="", max_per_thread=0, timeout_s=2,
        post_body=""):
    """One wrk run through report.lua; returns the dict its done() printed,
    plus 'rps', 'errors' (socket errors + non-2xx) and 'seconds'."""
    cmd = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % max(1, round(duration)),
           "--timeout", "%ds" % timeout_s, "-s", REPORT_LUA, url, "--",
           cookie_file or "-", cookie_name or "-", str(max_per_thread)] + ([post_body] if post_body else [])
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    for line in p.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            r = json.loads(line[len("BENCH_RESULT "):])
            r["seconds"] = r["duration_us"] / 1e6
            r["rps"] = r["requests"] / r["seconds"] if r["seconds"] > 0 else 0.0
            r["socket_errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
            r["errors"] = r["socket_errors"] + r["non2xx"]
            return r
    raise RuntimeError("wrk printed no BENCH_RESULT (exit %d): %s %s" % (p.returncode, p.stdout[-500:],
                                                                        p.stderr[-500:]))


# ---- the cluster
def start_cluster(c):
    """Starts cluster.Cluster c (the caller stops it in any case) and says
    whether tether.json names its Redis as the session registry."""
    c.start()
    with open(c.config_path) as f:
        redis = json.load(f).get("redis")
    return ("registry on (the cluster's redis-server at %s)" % redis.get("host") if redis else
            "registry off (cluster.py wrote no \"redis\" in tether.json)")


# ---- redis
def redis_info(port, section):
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "INFO", section],
                         capture_output=True, text=True, timeout=10).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line and not line.startswith("#"))


def redis_calls(port):
    """Total commands Redis has run, without the INFO calls we make ourselves."""
    total = 0
    for k, v in redis_info(port, "commandstats").items():
        if k.startswith("cmdstat_") and k != "cmdstat_info":
            m = re.search(r"calls=(\d+)", v)
            total += int(m.group(1)) if m else 0
    return total


def redis_memory(port):
    return int(redis_info(port, "memory")["used_memory"])


def redis_keys(port):
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "DBSIZE"], capture_output=True,
                         text=True, timeout=10).stdout.strip()
    return int(out) if out.isdigit() else -1


# ---- workers
def worker_status(c, n):
    """The /tether/status of worker n, asked on its own socket (not via nginx)."""
    r = fcgi.get(c.worker_addr(n), "/tether/status")
    if r.status != 200:
        raise RuntimeError("worker %d /tether/status -> %d %r" % (n, r.status, r.body[:200]))
    return json.loads(r.body)


def live_sessions(c):
    return sum(worker_status(c, n)["sessions"]["live"] for n in range(c.n))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def workers_rss_kib(c):
    return sum(rss_kib(c.workers[n].pid) for n in range(c.n))


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


# ---- sessions
def harvest_cookies(port, path, cookie_name, want, owner=None, max_tries=None, timeout_s=60):
    """Creates sessions with cookie-less GETs over one kept-alive connection and
    returns `want` cookie values. With owner, keeps only sessions whose JSON
    reply names that owner. Bounded by max_tries and timeout_s."""
    max_tries = max_tries or want * 4
    cookies, tries = [], 0
    deadline = time.monotonic() + timeout_s
    conn = None
    while len(cookies) < want and tries < max_tries and time.monotonic() < deadline:
        tries += 1
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            conn = None
            continue
        if r.status != 200:
            raise RuntimeError("creating a session on :%d%s -> %d %r" % (port, path, r.status, body[:200]))
        value = None
        for k, v in r.getheaders():
            if k.lower() == "set-cookie" and v.startswith(cookie_name + "="):
                value = v.split(";", 1)[0][len(cookie_name) + 1:]
        if value is None:
            raise RuntimeError("no %s cookie from :%d%s" % (cookie_name, port, path))
        if owner is not None and json.loads(body).get("owner") != owner:
            continue
        cookies.append(value)
    if conn:
        conn.close()
    if len(cookies) < want:
        raise RuntimeError("made only %d of %d sessions (owner %s) in %d tries" % (len(cookies), want, owner, tries))
    return cookies


def get_json(port, path, cookie=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        r = conn.getresponse()
        body = r.read()
        return r.status, json.loads(body) if body[:1] == b"{" else body
    finally:
        conn.close()


def write_lines(path, values):
    with open(path, "w") as f:
        f.write("\n".join(values) + "\n")


# ---- machine and versions
def _first_line(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    out = (p.stdout + p.stderr).strip().splitlines()
    return out[0].strip() if out else "?"


def versions():
    php = php_fpm_binary()
    return [_first_line(["nginx", "-v"]).replace("nginx version: ", ""),
            _first_line(["redis-server", "--version"]).split(" sha=")[0].replace(" server v=", " "),
            _first_line([php, "-v"]).split(" (built")[0] if php else "php-fpm not installed",
            _first_line(["wrk", "-v"]).split(" Copyright")[0].split(" [")[0],
            _first_line([os.environ.get("CXX", "g++"), "--version"])]


def cpu_busy(seconds=2.0):
    """Percent of all CPUs busy over `seconds` (from /proc/stat), before we
    start anything: other work on the machine lowers every row."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    t1, i1 = sample()
    time.sleep(seconds)
    t2, i2 = sample()
    return 100.0 * (1 - (i2 - i1) / (t2 - t1)) if t2 > t1 else 0.0


class CpuWatch:
    """What else used the CPUs while a run was measured, as percents of all
    CPUs: `other`, the processes that are neither ours (this script and its
    descendants) nor kernel threads, seen at the start or the end (one that
    started and ended in between is missed); `steal`, time the hypervisor gave
    to someone else. Either one lowers a row."""

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]  # guest time is inside user already
        procs = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            rest = st[st.rindex(")") + 2:].split()
            procs[int(d)] = (int(rest[1]), int(rest[11]) + int(rest[12]))
        kids = {}
        for pid, (pp, _) in procs.items():
            kids.setdefault(pp, []).append(pid)
        mine, todo = set(), [os.getpid()]
        while todo:
            pid = todo.pop()
            mine.add(pid)
            todo += kids.get(pid, [])
        return sum(v), v[7], procs, mine

    def result(self):
        """(other %, steal %) since the watch started."""
        total, steal, procs, mine = self._sample()
        t0, s0, procs0, mine0 = self.start
        if total <= t0:
            return 0.0, 0.0
        other = 0
        for pid, (pp, ticks) in procs.items():
            if pid in mine or pid in mine0 or pid == 2 or pp == 2:
                continue
            before = procs0.get(pid)
            other += ticks - (before[1] if before else 0)
        return 100.0 * other / (total - t0), 100.0 * (steal - s0) / (total - t0)


def busy_note(busy):
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    text = "machine before the run: %.0f%% CPU busy, load average %s" % (busy, load)
    if busy > 15:
        text += " -- NOT IDLE: other work shares the CPUs, every figure below is lower than on an idle machine"
    return text


def build_note():
    """Which tree the binaries were built from: commit, and whether src/ or
    include/ had uncommitted changes."""
    def git(*args):
        try:
            return subprocess.run(["git", "-C", REPO] + list(args), capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    head = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--", "src", "include")
    return "of commit %s%s" % (head, " plus uncommitted changes in src/ or include/" if dirty else "")


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return "%d cores (%s), %d MiB RAM, Linux %s" % (os.cpu_count(), model, mem, platform.release())


def write_section(name, text):
    """Replaces the section `name` of results.md, keeping the others."""
    begin, end = "<!-- bench:%s -->" % name, "<!-- /bench:%s -->" % name
    try:
        with open(RESULTS_MD) as f:
            old = f.read()
    except OSError:
        old = ""
    block = "%s\n%s\n%s" % (begin, text.rstrip("\n"), end)
    if begin in old and end in old:
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
    else:  # a new section: after the others, in the order they have (every one kept)
        sections = {"main": "", "scale": "", "workflow": ""}
        for k in re.findall(r"<!-- bench:([A-Za-z0-9_-]+) -->", old):
            b, e = "<!-- bench:%s -->" % k, "<!-- /bench:%s -->" % k
            if e in old:
                sections[k] = old[old.index(b):old.index(e) + len(e)]
        sections[name] = block
        new = ("# tether benchmark results\n\nWritten by `make bench` (first section) and `make bench-scale` "
               "(second section); each run replaces its own section.\n\n" +
               "\n\n".join(s for s in sections.values() if s))
    with open(RESULTS_MD, "w") as f:
        f.write(new.rstrip("\n") + "\n")


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(out)


def keep_or_remove(wd, ok, name):
    """Removes a run's directory after a good run; keeps it, and says where, after a bad one."""
    if ok and not os.environ.get("KEEP_TMP"):
        shutil.rmtree(wd, ignore_errors=True)
    elif not ok:
        print("%s: files kept in %s" % (name, wd))


def report_header(title, setup_notes):
    """The lines every results section opens with: title and date, machine,
    its load before the run, tether's build, versions."""
    return ["## %s (%s)" % (title, time.strftime("%Y-%m-%d %H:%M %Z")), "",
            "- machine: %s" % machine(),
            "- %s" % setup_notes[0],
            "- tether: %s; build %s" % (setup_notes[1], setup_notes[2]),
            "- versions: " + "; ".join(versions())]
