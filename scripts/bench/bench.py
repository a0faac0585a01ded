#!/usr/bin/env python3
"""make bench: tether side by side with the raw FastCGI limit and with PHP-FPM
+ Redis sessions, on this machine, in one run (issue 4).

Starts, in one temporary directory, on loopback only: redis-server, tetherd
workers and ONE nginx (scripts/cluster.py), plus fcgi_hello (the smallest
libfcgi responder) and php-fpm (pm=static, redis session handler). Every row
goes through that same nginx with the same wrk settings; each row has a
warm-up run that is not counted. Prints one markdown table, writes it to
scripts/bench/results.md (section "main"), and PASS/MISS against the issue's
targets. Exits 1 only if a row FAILED (errors) or could not run; misses are
findings. Everything is stopped by pid at the end, also on failure. Each row
also has the CPU time per request of tetherd, nginx, redis-server and the
baseline (fcgi_hello / php-fpm), from /proc (cpu.py, issue 19). Without
php-fpm or php-redis the PHP row is skipped with a note.

Rows run in rounds (every row, in order, then again): on a shared or virtual
machine the CPUs come and go over time, and interleaving spreads that over all
rows; a row's figures come from its median round.

Environment: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, 2),
BENCH_ROUNDS (3),
BENCH_CONNECTIONS (32), BENCH_THREADS (wrk threads, 2), BENCH_WORKERS
(tetherd workers, 2), BENCH_NGINX_WORKERS (1), BENCH_PHP_CHILDREN (8),
BENCH_PHP_KEEPALIVE (0: nginx's usual PHP setup, no fastcgi_keep_conn; N: keep
N idle connections, which stalls requests behind idle kept connections when N
approaches the child count: measured wrk timeouts), BENCH_HELLO_THREADS
(fcgi_hello threads, 16), BENCH_SESSIONS (1000), BENCH_SESSION_TURNS (the
workers' session_turns, "inline"; "pinned" to compare), BENCH_ROWS (comma-separated
row keys, default all: static,hello,stateless,routed,forwarded,new,cached,template,php,workflow,journal,
checkpoints,recovery; workflow is scripts/bench/workflow_bench.py, see there; journal:
scripts/bench/journal_bench.py; checkpoints (the routed hit with checkpoints every 1 s beside it without):
scripts/bench/checkpoint_bench.py; recovery (kill -9 of a worker holding BENCH_RECOVERY_SESSIONS, 2000,
checkpointing sessions): scripts/bench/recovery_bench.py; both write the section "recovery"),
KEEP_TMP=1 keeps the temporary directory, BENCH_RESULTS (file to write instead
of scripts/bench/results.md, e.g. for a short trial run).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import benchlib as B
import checkpoint_bench
import cpu
import php_row
import journal_bench
import recovery_bench
import workflow_bench
from cluster import Cluster, stop_pid, free_port, wait_until, can_connect

DURATION = B.env_float("BENCH_DURATION", 10)
ROUNDS = max(1, B.env_int("BENCH_ROUNDS", 3))
WARMUP = B.env_float("BENCH_WARMUP", 2)
CONNECTIONS = B.env_int("BENCH_CONNECTIONS", 32)
THREADS = B.env_int("BENCH_THREADS", 2)
WORKERS = B.env_int("BENCH_WORKERS", 2)
NGINX_WORKERS = B.env_int("BENCH_NGINX_WORKERS", 1)
PHP_CHILDREN = B.env_int("BENCH_PHP_CHILDREN", 8)
HELLO_THREADS = B.env_int("BENCH_HELLO_THREADS", 16)
SESSIONS = B.env_int("BENCH_SESSIONS", 1000)
SESSION_TURNS = os.environ.get("BENCH_SESSION_TURNS", "inline")
OTHER_CPU_WARN = 5  # percent of all CPUs used by other processes during a row: noted
KEEPALIVE = 8  # idle upstream connections per nginx worker, as tether.conf's tether_all
PHP_KEEPALIVE = B.env_int("BENCH_PHP_KEEPALIVE", 0)

# (key, label); the table's order is the run order.
ROWS = [("static", "nginx static"), ("hello", "raw FastCGI hello"), ("stateless", "tether stateless"),
        ("routed", "tether session hit (routed)"), ("forwarded", "tether session hit (forwarded)"),
        ("new", "tether new session"), ("cached", "tether cached page hit"),
        ("template", "tether template render (uncached)"), ("php", "PHP-FPM + Redis session")]

# The cache rows' rules and template (issue 5): a controller page answered
# from the response cache, and a mustache page rendered on every request.
CACHE_ROUTES = [{"match": "^/bench/cached$", "controller": "kit_page", "cache": "persistent"},
                {"match": "^/bench/render$", "controller": "kit_render"}]
BENCH_TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{{headline}}</title></head>
<body><h1>{{headline}}</h1><p>Render {{n}} of {{path}}.</p>
<ul>{{#items}}<li class="{{kind}}">{{name}}: {{value}}</li>{{/items}}</ul>
</body></html>
"""


def write_bench_templates(wd):
    d = os.path.join(wd, "templates", "kit")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "page.mustache"), "w") as f:
        f.write(BENCH_TEMPLATE)
    demo = os.path.join(B.REPO, "src", "apps", "demo", "templates", "about.mustache")  # the default routes' page
    shutil.copy(demo, os.path.dirname(d))
    return os.path.dirname(d)


def fastcgi_params_like_tether():
    """nginx/tether-location.conf without its fastcgi_pass line: every
    FastCGI row gets exactly tether's location settings."""
    with open(os.path.join(B.REPO, "nginx", "tether-location.conf")) as f:
        lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    return " ".join(ln for ln in lines if not ln.startswith("fastcgi_pass "))


def nginx_extra(wd, ports):
    params = fastcgi_params_like_tether()
    loc = "location / { fastcgi_pass %s; " + params + " %s}"
    php_loc = loc if PHP_KEEPALIVE > 0 else loc.replace("fastcgi_keep_conn on;", "")
    srv = "    server {\n        listen 127.0.0.1:%d;\n        %s\n    }\n"
    php_keep = "keepalive %d;" % PHP_KEEPALIVE if PHP_KEEPALIVE > 0 else ""
    return ("    upstream bench_fcgi_hello { server unix:%s/hello.sock; keepalive %d; }\n" % (wd, KEEPALIVE) +
            "    upstream bench_php { server unix:%s/php/php.sock; %s }\n" % (wd, php_keep) +
            srv % (ports["static"], 'location / { default_type text/plain; return 200 "hello\\n"; }') +
            srv % (ports["hello"], loc % ("bench_fcgi_hello", "")) +
            # every request enters worker 0, whoever owns the session
            srv % (ports["forwarded"], loc % ("tether_h1_0", "")) +
            # creates sessions on worker 1 (for the forwarded row)
            srv % (ports["own1"], loc % ("tether_h1_1", "")) +
            srv % (ports["php"], php_loc % ("bench_php", "fastcgi_param SCRIPT_FILENAME %s/php/counter.php; " % wd)))


def forwarding_available(port, cookie, within_s=5.0):
    """Requests with a worker-1 cookie into worker 0: forwarded if worker 1
    answers. Tried for a few seconds: a worker learns its peers' addresses
    from the registry's heartbeats, so right after start it may not know
    worker 1 yet (the request then gets a new session, reason "lost")."""
    deadline = time.monotonic() + within_s
    while True:
        status, body = B.get_json(port, "/t/count", "tether_sid=" + cookie)
        owner = body.get("owner") if isinstance(body, dict) else None
        if status == 200 and owner == "h1-1":
            return True, ""
        if time.monotonic() > deadline:
            return False, "status %d, owner %s, reason %s (for %gs)" % (
                status, owner, body.get("reason") if isinstance(body, dict) else "?", within_s)
        time.sleep(0.25)


def measure(url, redis_port, procs, cookie_file=None, cookie_name=""):
    B.wrk(url, THREADS, CONNECTIONS, WARMUP, cookie_file, cookie_name)  # warm-up, not counted
    before = B.redis_calls(redis_port)
    watch = B.CpuWatch()
    cpu_before = procs.sample()
    r = B.wrk(url, THREADS, CONNECTIONS, DURATION, cookie_file, cookie_name)
    r["cpu_us"] = cpu.spent_us(cpu_before, procs.sample())
    r["other_cpu"], r["steal"] = watch.result()
    r["redis_per_req"] = (B.redis_calls(redis_port) - before) / r["requests"] if r["requests"] else 0.0
    return r


def prepare(c, wd, ports, wanted, results, notes):
    """Makes the sessions the cookie rows rotate; decides whether the
    forwarded row can run. Returns {row key: (url, cookie file, cookie name)}."""
    url = lambda port, path: "http://127.0.0.1:%d%s" % (port, path)  # noqa: E731
    plan = {"static": (url(ports["static"], "/"), None, ""),
            "hello": (url(ports["hello"], "/"), None, ""),
            "stateless": (url(c.port, "/hello"), None, ""),
            "routed": (url(c.port, "/t/count"), os.path.join(wd, "cookies-routed.txt"), "tether_sid"),
            "forwarded": (url(ports["forwarded"], "/t/count"), os.path.join(wd, "cookies-worker1.txt"), "tether_sid"),
            "new": (url(c.port, "/t/count"), None, ""),
            "cached": (url(c.port, "/bench/cached"), None, ""),
            "template": (url(c.port, "/bench/render?h=%3Cbench%3E"), None, ""),
            "php": (url(ports["php"], "/counter.php"), os.path.join(wd, "cookies-php.txt"), "PHPSESSID")}
    makers = {"routed": (c.port, "/t/count", None),  # any worker: nginx spreads new sessions
              "forwarded": (ports["own1"], "/t/count", "h1-1"),  # all owned by worker 1
              "php": (ports["php"], "/counter.php", None)}
    ready = {}
    for key, label in ROWS:
        if key not in wanted:
            continue
        try:
            if key in makers:
                port, path, owner = makers[key]
                B.write_lines(plan[key][1], B.harvest_cookies(port, path, plan[key][2], SESSIONS, owner=owner))
            if key == "forwarded":
                with open(plan[key][1]) as f:
                    ok, why = forwarding_available(ports["forwarded"], f.readline().strip())
                if not ok:
                    results[key] = "n/a (forwarding not available)"
                    notes.append("forwarded: n/a (forwarding not available): a worker-1 cookie sent into "
                                 "worker 0 got %s" % why)
                    print("bench: %-32s n/a (forwarding not available: %s)" % (label, why), flush=True)
                    continue
            ready[key] = plan[key]
        except Exception as e:  # one row failing must not hide the others
            results[key] = "could not run: %s" % str(e).splitlines()[0][:200]
            print("bench: %-32s %s" % (label, results[key]), flush=True)
    return ready


def combine(runs):
    """One row from its rounds: the round with the median req/s gives req/s
    and latencies; errors and Redis commands add up over every round."""
    mid = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    out = dict(mid)
    for k in ("errors", "non2xx", "socket_errors", "connect", "read", "write", "timeout"):
        out[k] = sum(r[k] for r in runs)
    requests = sum(r["requests"] for r in runs)
    out["redis_per_req"] = sum(r["redis_per_req"] * r["requests"] for r in runs) / requests if requests else 0.0
    out["rounds_rps"] = [r["rps"] for r in runs]
    out["other_cpu"] = max(r["other_cpu"] for r in runs)
    out["steals"] = [r["steal"] for r in runs]
    out["cpu_per_req"] = cpu.per_request(runs)
    return out


def run_rows(c, wd, ports, wanted, procs, results):
    notes = []
    ready = prepare(c, wd, ports, wanted, results, notes)
    runs = {k: [] for k in ready}
    for rnd in range(1, ROUNDS + 1):
        for key, label in ROWS:
            if key not in ready or key in results:
                continue
            u, cf, name = ready[key]
            try:
                r = measure(u, c.redis_port, procs, cf, name)
            except Exception as e:
                results[key] = "could not run: %s" % str(e).splitlines()[0][:200]
                print("bench: %-32s %s" % (label, results[key]), flush=True)
                continue
            runs[key].append(r)
            print("bench: round %d/%d %-31s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d  redis/req %.2f  "
                  "other CPU %.0f%%  steal %.0f%%%s%s"
                  % (rnd, ROUNDS, label, r["rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3, r["errors"],
                     r["redis_per_req"], r["other_cpu"], r["steal"], cpu.console(key, r), error_detail(r)), flush=True)
            if r["other_cpu"] > OTHER_CPU_WARN:
                notes.append("%s, round %d: other processes took %.0f%% of the CPUs during the measured run"
                             % (label, rnd, r["other_cpu"]))
    for key in runs:
        if key not in results and runs[key]:
            results[key] = combine(runs[key])
    return results, notes


def error_detail(r):
    if not r["errors"]:
        return ""
    kinds = ("non2xx", "connect", "read", "write", "timeout")
    return "  [" + ", ".join("%s %d" % (k, r[k]) for k in kinds if r[k]) + "]"


def not_run(r):
    """A row that did not run on purpose: not a failure."""
    return not isinstance(r, dict) and r.startswith(("n/a", "skipped"))


def fmt_row(key, label, r, hello, php, raw_cpu):
    if not isinstance(r, dict):
        return [label] + [r if not_run(r) else "**%s**" % r] + [""] * (7 + len(cpu.HEADER))
    ratio = lambda base: "%.2fx" % (r["rps"] / base["rps"]) if isinstance(base, dict) and base["rps"] else "-"  # noqa
    errors = "0" if r["errors"] == 0 else "**FAILED: %d** (%d non-2xx, %d socket)" % (
        r["errors"], r["non2xx"], r["socket_errors"])
    return [label, "{:,.0f}".format(r["rps"]), "%.2f" % (r["p50_us"] / 1e3), "%.2f" % (r["p99_us"] / 1e3), errors,
            "%.2f" % r["redis_per_req"], ratio(hello), ratio(php)] + cpu.columns(key, r, raw_cpu) + [
            " / ".join("{:,.0f}".format(x) for x in r["rounds_rps"])]


def verdicts(res):
    def rps(k):
        return res[k]["rps"] if isinstance(res.get(k), dict) else None
    out = []

    def check(name, value, target, fmt, higher=True):
        if value is None:
            out.append("- n/a  %s (row did not run)" % name)
            return
        ok = value >= target if higher else value <= target
        out.append("- %s %s: %s (target %s %s)" % ("PASS" if ok else "MISS", name, fmt % value,
                                                   ">=" if higher else "<=", fmt % target))
    r, h, p, f, n = rps("routed"), rps("hello"), rps("php"), rps("forwarded"), rps("new")
    check("session hit (routed) vs raw FastCGI hello", r / h if r and h else None, 1.0, "%.2fx")
    check("session hit (routed) vs PHP-FPM + Redis", r / p if r and p else None, 3.0, "%.2fx")
    check("session hit (forwarded) vs raw FastCGI hello", f / h if f and h else None, 0.6, "%.2fx")
    check("Redis commands per session hit (routed)",
          res["routed"]["redis_per_req"] if isinstance(res.get("routed"), dict) else None, 0.05, "%.2f", False)
    if isinstance(res.get("forwarded"), dict):
        check("Redis commands per session hit (forwarded)", res["forwarded"]["redis_per_req"], 0.05, "%.2f", False)
    check("new sessions per second (one host)", n, 10000, "%.0f/s")
    cached = rps("cached")
    check("cached page hit vs raw FastCGI hello", cached / h if cached and h else None, 1.0, "%.2fx")
    return out


def report(res, notes, wall, setup_notes):
    hello, php = res.get("hello"), res.get("php")
    header = ["case", "req/s", "p50 ms", "p99 ms", "errors", "Redis cmds/req", "vs raw hello", "vs PHP-FPM"] + \
        cpu.HEADER + ["req/s by round"]
    rows = [fmt_row(k, label, res[k], hello, php, cpu.raw_us(res)) for k, label in ROWS if k in res]
    text = B.report_header("make bench", setup_notes) + [
            "- wrk: -t%d -c%d -d%gs, %gs warm-up run per row not counted, same script (report.lua) for every row; "
            "%d rounds (all rows, then again), a row's req/s and latencies are from its median round"
            % (THREADS, CONNECTIONS, DURATION, WARMUP, ROUNDS),
            "- one nginx (%d worker process, upstream keepalive %d, fastcgi_keep_conn on) in front of every row; "
            "tetherd: %d workers (16 acceptor threads, 2 session threads each, session_turns %s); "
            "fcgi_hello: %d threads; "
            "php-fpm: pm=static, %d children, session.save_handler=redis, %s; session rows rotate %d cookies"
            % (NGINX_WORKERS, KEEPALIVE, WORKERS, SESSION_TURNS, HELLO_THREADS, PHP_CHILDREN,
               "upstream keepalive %d" % PHP_KEEPALIVE if PHP_KEEPALIVE > 0 else
               "no fastcgi_keep_conn (php-fpm's usual nginx setup: with it, requests stall behind idle kept "
               "connections)", SESSIONS),
            "- errors = non-2xx + socket errors (a row with any is FAILED); Redis cmds/req = INFO commandstats "
            "delta over the measured run / requests; ratios are req/s over that row's",
            "- µs/req = CPU time (utime+stime from /proc/<pid>/stat) over the measured runs of all rounds / their "
            "requests: tetherd = all its workers, nginx = its workers, baseline = fcgi_hello or the php-fpm pool; "
            "CPU vs raw = the row's tetherd (or baseline) µs/req over the raw hello row's baseline", "",
            B.table(header, rows), ""]
    steals = [x for r in res.values() if isinstance(r, dict) for x in r["steals"]]
    if steals:
        text += ["CPU time the hypervisor gave to others (steal) during the measured runs: %.0f%% to %.0f%% of the "
                 "CPUs, by run." % (min(steals), max(steals)), ""]
    text += ["Targets (issue 4; a MISS is a finding, not a failure):", ""]
    text += verdicts(res)
    text += ["", "CPU targets (issue 19; a MISS is a finding, not a failure):", ""]
    text += cpu.verdicts(res, {k: label for k, label in ROWS})
    if notes:
        text += ["", "Notes:", ""] + ["- " + n for n in notes]
    text += ["", "Run time: %.0f s." % wall]
    return "\n".join(text) + "\n"


def recovery_section(busy):
    """Issue 18's rows, each on its own cluster: section "recovery". True if none failed."""
    parts = [m.run() for m in (checkpoint_bench, recovery_bench) if m.wanted()]
    head = B.report_header("make bench: checkpoints and recovery (issue 18)",
                           (busy, "registry on (each row's own redis-server)", B.build_note()))
    B.write_section("recovery", "\n".join(head) + "\n\n" + "\n".join(t for t, _ in parts))
    return all(good for _, good in parts)


def main():
    B.require_tools(["wrk", "nginx", "redis-server", "redis-cli"])
    busy = B.busy_note(B.cpu_busy())
    print("bench: " + busy, flush=True)
    if WORKERS < 2:
        sys.exit("bench: BENCH_WORKERS must be >= 2 (the forwarded row needs a non-owner worker)")
    wanted = set(os.environ.get("BENCH_ROWS", ",".join([k for k, _ in ROWS] + ["workflow"])).split(","))
    results = {}
    php_missing = B.php_missing() if "php" in wanted else None
    if php_missing:  # a machine without PHP still benches tether
        results["php"] = "skipped: %s not installed" % php_missing
        wanted.discard("php")
        print("bench: %-32s %s" % (dict(ROWS)["php"], results["php"]), flush=True)
    t0 = time.monotonic()
    wd = tempfile.mkdtemp(prefix="tether-bench-")
    ports = {k: free_port() for k in ("static", "hello", "forwarded", "own1", "php")}
    hello = php = None
    c = Cluster(workdir=wd, workers=WORKERS, nginx_workers=NGINX_WORKERS, nginx_http_extra=nginx_extra(wd, ports),
                # Without checkpoints: the rows measure a session hit, not its write-behind copy.
                routes=CACHE_ROUTES + B.cluster.without_checkpoints(B.cluster.default_routes()),
                # The new-session row makes ~10^5 sessions per round, more than the default
                # max_sessions (100000 a worker): it measures creation, not the cap.
                config={"templates": write_bench_templates(wd), "max_sessions": 100000000,
                        "session_turns": SESSION_TURNS})
    ok = False
    try:
        os.makedirs(os.path.join(wd, "logs"), exist_ok=True)
        hello = subprocess.Popen([os.path.join(B.cluster.build_dir(), "bin", "fcgi_hello"),
                                  "unix:%s/hello.sock" % wd, str(HELLO_THREADS)],
                                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(wd, "logs", "hello.log"), "ab"))
        registry_note = B.start_cluster(c)
        php = php_row.start(wd, c.redis_port, PHP_CHILDREN) if "php" in wanted else None
        wait_until(lambda: can_connect("unix:%s/hello.sock" % wd), 10, "fcgi_hello")
        print("bench: everything up in %s (nginx :%d); wrk -t%d -c%d -d%gs, warm-up %gs"
              % (wd, c.port, THREADS, CONNECTIONS, DURATION, WARMUP), flush=True)
        res, notes = run_rows(c, wd, ports, wanted, cpu.Processes(c, hello, php), results)
        text = report(res, notes, time.monotonic() - t0, (busy, registry_note, B.build_note()))
        print()
        print(text)
        B.write_section("main", text)
        print("bench: written to %s" % os.path.relpath(B.RESULTS_MD, os.getcwd()))
        bad = [k for k, r in res.items() if (r["errors"] if isinstance(r, dict) else not not_run(r))]
        ok = not bad
        if bad:
            print("bench: FAILED rows: %s" % ", ".join(bad))
    finally:
        if php:
            stop_pid(php)
        c.stop()
        if hello:
            stop_pid(hello, signal.SIGKILL)  # libfcgi turns SIGTERM into 'stop after the next accept'
        B.keep_or_remove(wd, ok, "bench")
    if "workflow" in wanted:  # its own cluster, after the others are stopped
        wf_text, wf_ok = workflow_bench.run()
        print(wf_text)
        B.write_section("workflow", wf_text)
        ok = ok and wf_ok
    if journal_bench.wanted():  # its own redis-server, after the HTTP rows have stopped
        ok = journal_bench.run() and ok
    if checkpoint_bench.wanted() or recovery_bench.wanted():  # their own clusters, after the others are stopped
        ok = recovery_section(busy) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
