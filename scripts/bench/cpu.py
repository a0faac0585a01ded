"""CPU time per request of the bench's server processes (issue 19): reads
utime+stime (fields 14 and 15 of /proc/<pid>/stat, clock ticks, all threads
of the process) of every server process just before and just after a
measured wrk run; bench.py divides the difference by the requests wrk
completed. Groups: tetherd (every worker: a forwarded request costs on two),
nginx (the master's children: its workers), redis-server, fcgi_hello, and
php-fpm (the master's children: its pool). Also the table's CPU columns and
the CPU targets. Pure functions and plain data; used from bench.py's one
thread, between wrk runs.
"""
import os

TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")
# The process that answers a row, besides nginx: its µs/req is the one the targets compare.
APP = {"hello": "fcgi_hello", "php": "php-fpm", "static": None}  # any other row: tetherd
HEADER = ["tetherd µs/req", "baseline µs/req", "nginx µs/req", "redis µs/req", "CPU vs raw"]
# (row key, most tetherd CPU per request as a multiple of fcgi_hello's)
TARGETS = [("stateless", 1.3), ("routed", 1.5), ("forwarded", 3.0), ("new", 3.0), ("cached", 1.1)]
NGINX_SLACK = 1.10  # nginx per request in a tether row: at most 10% above the raw hello row's
NEW_SESSION_REDIS = 2.0  # Redis commands per new session, at most


def parse_stat(text):
    """(ppid, utime + stime in ticks) from the text of /proc/<pid>/stat. The
    name (field 2) is in parentheses and may hold spaces and ')': the fields
    after it are counted from its last ')'."""
    rest = text[text.rindex(")") + 2:].split()
    return int(rest[1]), int(rest[11]) + int(rest[12])  # fields 4, 14, 15 (rest[0] is field 3)


def read_stat(pid):
    """(ppid, ticks) of pid, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return parse_stat(f.read())
    except (OSError, ValueError, IndexError):
        return None


def children(ppid):
    """The pids whose parent is ppid (a scan of /proc: /proc/<pid>/task/*/children
    needs CONFIG_PROC_CHILDREN, which not every kernel has)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = read_stat(int(d))
            if st and st[0] == ppid:
                out.append(int(d))
    return sorted(out)


class Processes:
    """Which pids make up each group, asked again at every sample (nginx or
    php-fpm may replace a child). Built from the harness's own pids."""

    def __init__(self, cluster, hello=None, php=None):
        self.groups = {"tetherd": lambda: [cluster.worker_pid(n) for n in range(cluster.n)],
                       "nginx": lambda: children(cluster.nginx.pid),
                       "redis": lambda: [cluster.redis.pid] if cluster.redis else []}
        if hello:
            self.groups["fcgi_hello"] = lambda: [hello.pid]
        if php:
            self.groups["php-fpm"] = lambda: children(php.pid)

    def sample(self):
        """{group: {pid: ticks}}"""
        out = {}
        for name, pids in self.groups.items():
            out[name] = {}
            for pid in pids():
                st = read_stat(pid)
                if st:
                    out[name][pid] = st[1]
        return out


def spent_us(before, after):
    """{group: CPU µs between two samples}. A pid seen only after counts from
    its start; one gone by the end is left out (it died during the run); a
    pid whose ticks went back is a new process under a reused pid."""
    out = {}
    for name, now in after.items():
        was = before.get(name, {})
        out[name] = sum((t - was[pid]) if pid in was and t >= was[pid] else t for pid, t in now.items()) * TICK_US
    return out


def per_request(runs):
    """{group: µs per request} over every round of a row: CPU of all the
    rounds over their requests (steadier than one round's)."""
    requests = sum(r["requests"] for r in runs)
    total = {}
    for r in runs:
        for name, us in r.get("cpu_us", {}).items():
            total[name] = total.get(name, 0.0) + us
    return {name: us / requests for name, us in total.items()} if requests else {}


def app_group(key):
    return APP.get(key, "tetherd")


def raw_us(res):
    """fcgi_hello's µs per request in the raw hello row, or None."""
    h = res.get("hello")
    return h.get("cpu_per_req", {}).get("fcgi_hello") if isinstance(h, dict) else None


def columns(key, r, raw):
    """The CPU cells of one row (r: a combined row; raw: raw_us(res))."""
    per = r.get("cpu_per_req", {})
    cell = lambda name: "%.1f" % per[name] if name in per else "-"  # noqa: E731
    app = app_group(key)
    ratio = "%.2fx" % (per[app] / raw) if app in per and raw else "-"
    return [cell("tetherd") if app == "tetherd" else "-", cell(app) if app and app != "tetherd" else "-",
            cell("nginx"), cell("redis"), ratio]


def console(key, r):
    """The CPU part of a round's progress line."""
    per = per_request([r])
    app = app_group(key)
    return "  CPU µs/req: %s %s, nginx %s" % (app or "-", "%.1f" % per[app] if app in per else "-",
                                              "%.1f" % per["nginx"] if "nginx" in per else "-")


def verdicts(res, labels):
    """PASS/MISS lines for issue 19's CPU targets (labels: row key -> label)."""
    out = []

    def check(name, value, target, fmt):
        if value is None:
            out.append("- n/a  %s (row did not run)" % name)
        else:
            out.append("- %s %s: %s (target <= %s)" % ("PASS" if value <= target else "MISS", name, fmt % value,
                                                        fmt % target))
    row = lambda k: res[k] if isinstance(res.get(k), dict) else None  # noqa: E731
    raw = raw_us(res)
    for key, most in TARGETS:
        us = row(key) and row(key).get("cpu_per_req", {}).get("tetherd")
        what = "tetherd CPU per request, %s%s, vs fcgi_hello's" % (
            labels[key], " (both workers)" if key == "forwarded" else " (Redis not counted)" if key == "new" else "")
        check(what, us / raw if us is not None and raw else None, most, "%.2fx")
    # As printed (two decimals): the figure also holds the workers' own
    # background (heartbeats, bus polls: ~0.005 a request at bench rates),
    # which no new session sends.
    new_redis = row("new") and row("new").get("redis_per_req")
    check("Redis commands per new session", round(new_redis, 2) if new_redis is not None else None,
          NEW_SESSION_REDIS, "%.2f")
    base = row("hello") and row("hello").get("cpu_per_req", {}).get("nginx")
    for key, label in labels.items():
        if app_group(key) != "tetherd" or not row(key):
            continue
        us = row(key).get("cpu_per_req", {}).get("nginx")
        check("nginx CPU per request, %s, vs the raw hello row's" % label,
              us / base if us is not None and base else None, NGINX_SLACK, "%.2fx")
    return out
