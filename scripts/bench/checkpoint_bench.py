#!/usr/bin/env python3
"""The checkpoint cost row of `make bench` (issue 18, item 5b): the routed
session hit (bench.py's "tether session hit (routed)": wrk rotating
BENCH_SESSIONS cookies on /t/count through nginx) with the test kit
checkpointing every 1 s, beside the same hit without checkpoints, in one run.
Also runs alone: BUILD=build python3 scripts/bench/checkpoint_bench.py

Two clusters on loopback, both up for the whole run (each: redis-server, 2
tetherd workers, one nginx; bench.py's worker settings): one with
scripts/cluster.py's rules without the "checkpoint" option (as bench.py's
rows run), one with the test kit's {"every_ms": 1000}. The rows run in
rounds, one after the other, as bench.py's do; a row's req/s and latencies
are from its median round, its Redis commands and CPU over all rounds. Per
row: Redis commands per request (INFO commandstats, benchlib), CPU µs per
request of tetherd and redis-server (cpu.py), and the checkpoints the
workers wrote (their status figures "checkpoints": written, commands,
written_bytes) per second and per request. Runs on bench.py's one thread,
after its other rows' clusters are stopped.

Environment: BENCH_CKPT_DURATION (s, 4), BENCH_CKPT_WARMUP (s, 1),
BENCH_ROUNDS (3), BENCH_SESSIONS (1000), BENCH_CONNECTIONS (32),
BENCH_THREADS (2), BENCH_WORKERS (2), BENCH_SESSION_TURNS ("inline"),
KEEP_TMP=1.
"""
import os
import sys
import tempfile
import time

import benchlib as B
import cpu
import recovery_bench
from cluster import Cluster, default_routes, without_checkpoints

DURATION = B.env_float("BENCH_CKPT_DURATION", 4)
WARMUP = B.env_float("BENCH_CKPT_WARMUP", 1)
ROUNDS = max(1, B.env_int("BENCH_ROUNDS", 3))
SESSIONS = B.env_int("BENCH_SESSIONS", 1000)
CONNECTIONS = B.env_int("BENCH_CONNECTIONS", 32)
THREADS = B.env_int("BENCH_THREADS", 2)
WORKERS = B.env_int("BENCH_WORKERS", 2)
SESSION_TURNS = os.environ.get("BENCH_SESSION_TURNS", "inline")
ROWS = [("off", "tether session hit (routed), no checkpoints"),
        ("on", "tether session hit (routed), checkpoint every 1 s")]
CKPT_KEYS = ("written", "commands", "written_bytes", "fenced", "dropped", "errors")


def wanted():
    rows = os.environ.get("BENCH_ROWS")
    return rows is None or "checkpoints" in rows.split(",")


def checkpoints(c):
    """The workers' checkpoint figures, summed ({} without the section)."""
    out = {}
    for n in range(c.n):
        for k, v in B.worker_status(c, n).get("checkpoints", {}).items():
            if k in CKPT_KEYS and isinstance(v, int):
                out[k] = out.get(k, 0) + v
    return out


def measure(c, procs, cookies):
    url = c.url("/t/count")
    B.wrk(url, THREADS, CONNECTIONS, WARMUP, cookies, "tether_sid")  # warm-up, not counted
    calls0, ck0, cpu0 = B.redis_calls(c.redis_port), checkpoints(c), procs.sample()
    r = B.wrk(url, THREADS, CONNECTIONS, DURATION, cookies, "tether_sid")
    r["cpu_us"] = cpu.spent_us(cpu0, procs.sample())
    r["redis_calls"] = B.redis_calls(c.redis_port) - calls0
    ck1 = checkpoints(c)
    r["ckpt"] = {k: ck1.get(k, 0) - ck0.get(k, 0) for k in CKPT_KEYS}
    return r


def combine(runs):
    mid = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    out = dict(mid)
    out["requests_all"] = sum(r["requests"] for r in runs)
    out["seconds_all"] = sum(r["seconds"] for r in runs)
    out["errors"] = sum(r["errors"] for r in runs)
    out["redis_calls"] = sum(r["redis_calls"] for r in runs)
    out["ckpt"] = {k: sum(r["ckpt"][k] for r in runs) for k in CKPT_KEYS}
    out["cpu_per_req"] = cpu.per_request(runs)
    out["rounds_rps"] = [r["rps"] for r in runs]
    return out


def fmt_row(label, r):
    if not isinstance(r, dict):
        return [label, "**%s**" % r] + [""] * 11
    req, secs, ck = r["requests_all"], r["seconds_all"], r["ckpt"]
    per = r["cpu_per_req"]
    cell = lambda name: "%.1f" % per[name] if name in per else "-"  # noqa: E731
    return [label, "{:,.0f}".format(r["rps"]), "%.2f" % (r["p50_us"] / 1e3), "%.2f" % (r["p99_us"] / 1e3),
            "0" if not r["errors"] else "**FAILED: %d**" % r["errors"],
            "%.3f" % (r["redis_calls"] / req if req else 0), "{:,.0f}".format(ck["written"] / secs if secs else 0),
            "%.3f" % (ck["written"] / req if req else 0),
            "%.0f" % (ck["written_bytes"] / ck["written"]) if ck["written"] else "-",
            cell("tetherd"), cell("redis"), cell("nginx"), " / ".join("{:,.0f}".format(x) for x in r["rounds_rps"])]


def run():
    """Returns (markdown text, ok)."""
    t0 = time.monotonic()
    wd = tempfile.mkdtemp(prefix="tether-ckpt-")
    config = {"max_sessions": 100000000, "session_turns": SESSION_TURNS}
    clusters = {"off": Cluster(workdir=os.path.join(wd, "off"), workers=WORKERS, config=dict(config),
                               routes=without_checkpoints(default_routes())),
                "on": Cluster(workdir=os.path.join(wd, "on"), workers=WORKERS, config=dict(config),
                              routes=recovery_bench.routes())}
    results, notes, ok = {}, [], False
    try:
        procs, cookies = {}, {}
        for key, c in clusters.items():
            B.start_cluster(c)
            procs[key] = cpu.Processes(c)
            cookies[key] = os.path.join(wd, "cookies-%s.txt" % key)
            B.write_lines(cookies[key], B.harvest_cookies(c.port, "/t/count", "tether_sid", SESSIONS))
        runs = {k: [] for k in clusters}
        for rnd in range(1, ROUNDS + 1):
            for key, label in ROWS:
                r = measure(clusters[key], procs[key], cookies[key])
                runs[key].append(r)
                print("checkpoints: round %d/%d %-50s %8.0f req/s  p99 %6.2f ms  errors %d  redis/req %.3f  "
                      "checkpoints %d" % (rnd, ROUNDS, label, r["rps"], r["p99_us"] / 1e3, r["errors"],
                                          r["redis_calls"] / max(1, r["requests"]), r["ckpt"]["written"]), flush=True)
        results = {k: combine(v) for k, v in runs.items()}
        on = results["on"]["ckpt"]
        if on["written"] == 0:
            notes.append("the checkpointing cluster wrote no checkpoint during the measured runs")
        if on["fenced"] or on["dropped"] or on["errors"]:
            notes.append("checkpoints fenced %d, dropped %d, write errors %d during the measured runs"
                         % (on["fenced"], on["dropped"], on["errors"]))
        if on["written"]:
            on_r, off_r = results["on"], results["off"]
            extra = on_r["redis_calls"] - off_r["redis_calls"] * on_r["requests_all"] / max(1, off_r["requests_all"])
            notes.append("per checkpoint written: %.2f Redis commands by the writer's own count (one fenced script "
                         "call each, sent in pipelined batches), %.2f by INFO commandstats (which also counts the "
                         "commands the script runs inside Redis); a session hit N times a second costs 1/N of that "
                         "per request" % (on["commands"] / on["written"], extra / on["written"]))
        ok = on["written"] > 0 and all(r["errors"] == 0 for r in results.values())
    except Exception as e:
        for key, _ in ROWS:
            results.setdefault(key, "could not run: %s" % (str(e).splitlines()[0][:200] if str(e) else
                                                           type(e).__name__))
    finally:
        for c in clusters.values():
            try:
                c.stop()
            except Exception as e:  # a sanitizer report: say so, stop the other
                notes.append("stopping %s: %s" % (c.workdir, str(e)[:200]))
                ok = False
        B.keep_or_remove(wd, ok, "checkpoints")
    header = ["case", "req/s", "p50 ms", "p99 ms", "errors", "Redis cmds/req", "checkpoints/s", "checkpoints/req",
              "B/checkpoint", "tetherd µs/req", "redis µs/req", "nginx µs/req", "req/s by round"]
    text = ["### Session hit with checkpoints every 1 s", "",
            "The routed session hit with the test kit checkpointing every 1 s beside the same hit without "
            "checkpoints: Redis commands and CPU per request that the write-behind checkpoints add.", "",
            B.table(header, [fmt_row(label, results.get(key, "did not run")) for key, label in ROWS]), "",
            "- two clusters up at once (each: its own redis-server, %d tetherd workers, session_turns %s, one nginx); "
            "wrk -t%d -c%d -d%gs rotating %d cookies on /t/count, %gs warm-up per run not counted, %d rounds "
            "alternating the rows; req/s and latencies from the median round, the rest over all rounds"
            % (WORKERS, SESSION_TURNS, THREADS, CONNECTIONS, DURATION, SESSIONS, WARMUP, ROUNDS),
            "- Redis cmds/req: INFO commandstats delta / requests; checkpoints: the workers' status figures "
            "(checkpoints.written, written_bytes); µs/req: utime+stime from /proc (cpu.py) / requests"]
    text += ["- " + n for n in notes]
    text += ["", "Run time: %.0f s." % (time.monotonic() - t0)]
    out = "\n".join(text) + "\n"
    print(out, flush=True)
    return out, ok


if __name__ == "__main__":
    sys.exit(0 if run()[1] else 1)
