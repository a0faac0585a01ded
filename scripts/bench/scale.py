#!/usr/bin/env python3
"""make bench-scale: how far one host goes in live sessions, and what each
costs (issue 4, "Scale and memory").

Starts redis-server, tetherd workers and nginx on loopback in a temporary
directory (scripts/cluster.py), then creates sessions in steps (cookie-less
wrk runs against /t/count, each bounded in count and time) up to 1,000,000.
At each step: live sessions (sum of the workers' /tether/status, asked on each
worker's own socket), workers' RSS over the baseline and per session, Redis
used_memory over the baseline and per session, Redis keys, the creation rate,
and the p99 of a session hit (short wrk run rotating 1000 cookies). Then it
lets every session idle out (a condition on sessions.live == 0, with a
deadline) and shows memory and keys against the baseline. Prints a table and
writes it to scripts/bench/results.md (section "scale").

Bounded: stepping stops, saying why, when the next step would not finish
before the first sessions idle out, would exceed the time budget, or would
not fit in MemAvailable. Everything is stopped by pid, also on failure.

Environment: BENCH_SCALE_STEPS (comma list, default
10000,50000,100000,250000,500000,1000000), BENCH_SCALE_BUDGET (s, 600: the
whole run as planned; the idle-out wait may overrun it by up to 75 s before
it gives up), BENCH_SCALE_IDLE (idle_timeout_s, 280), BENCH_SCALE_HIT (s of the
hit run per step, 3), BENCH_CONNECTIONS (32), BENCH_THREADS (2),
BENCH_WORKERS (2), KEEP_TMP=1. The registry is on when cluster.py names its
Redis in tether.json (as `make run` does).

Then issue 18's rows, each on its own cluster, written to the section
"recovery-scale": kill -9 of a worker holding BENCH_RECOVERY_SCALE_SESSIONS
(10000) checkpointing sessions (scripts/bench/recovery_bench.py), and
BENCH_HIBERNATE_SESSIONS (200000) sessions of which 90% hibernated
(scripts/bench/hibernation_bench.py; skipped with a note on a build without
max_live_sessions). BENCH_ROWS (comma list) without "recovery" or
"hibernation" leaves that row out.
"""
import math
import os
import sys
import tempfile
import time

import benchlib as B
import hibernation_bench
import recovery_bench
from cluster import Cluster, wait_until

STEPS = [int(s) for s in os.environ.get("BENCH_SCALE_STEPS", "10000,50000,100000,250000,500000,1000000").split(",")]
BUDGET = B.env_float("BENCH_SCALE_BUDGET", 600)
IDLE = B.env_int("BENCH_SCALE_IDLE", 280)
HIT_S = B.env_float("BENCH_SCALE_HIT", 3)
CONNECTIONS = B.env_int("BENCH_CONNECTIONS", 32)
THREADS = B.env_int("BENCH_THREADS", 2)
WORKERS = B.env_int("BENCH_WORKERS", 2)
HIT_SESSIONS = 1000
MARGIN_S = 20  # stepping ends this long before the first sessions would idle out
IDLE_PLAN_S = 15  # the idle-out wait is planned as IDLE + this (sweeps, status polls) ...
IDLE_GRACE_S = 90  # ... and bounded by IDLE + this


class Run:
    def __init__(self, c, wd):
        self.c, self.wd = c, wd
        self.url = c.url("/t/count")
        self.cookies = os.path.join(wd, "cookies.txt")
        self.rows = []
        self.stop_reason = "every step done"
        self.failed = []

    # ---- measurements
    def created(self):
        return sum(B.worker_status(self.c, n)["sessions"]["created"] for n in range(self.c.n))

    def snapshot(self):
        return {"live": B.live_sessions(self.c), "rss": B.workers_rss_kib(self.c),
                "redis_mem": B.redis_memory(self.c.redis_port), "keys": B.redis_keys(self.c.redis_port)}

    def hit(self):
        r = B.wrk(self.url, THREADS, CONNECTIONS, HIT_S, self.cookies, "tether_sid")
        if r["errors"]:
            self.failed.append("hit run: %d errors" % r["errors"])
        return r

    # ---- creation
    def create_until(self, target, deadline, rate_est):
        """Cookie-less requests until `target` sessions are live or deadline.
        wrk runs for its whole -d even when its threads stopped at their
        count, so each run's -d comes from the rate measured so far, and the
        rate only from runs that were not cut short by the count.
        Returns (sessions created, the creation rate, seconds spent)."""
        c0, t0 = self.created(), time.monotonic()
        full_req, full_s = 0, 0.0
        for _ in range(20):  # a few rounds: the last ones top up
            need = target - B.live_sessions(self.c)
            left = deadline - time.monotonic()
            if need <= 0 or left < 1:
                break
            per_thread = math.ceil(need / THREADS)
            seconds = max(1, min(int(left), int(0.9 * need / rate_est)))
            r = B.wrk(self.url, THREADS, CONNECTIONS, seconds, max_per_thread=per_thread, timeout_s=5)
            if r["errors"]:
                self.failed.append("creating sessions: %d errors" % r["errors"])
                break
            if r["responses"] < per_thread * THREADS:  # ran for all of -d: a true rate
                full_req += r["requests"]
                full_s += r["seconds"]
                rate_est = full_req / full_s
        spent = time.monotonic() - t0
        made = self.created() - c0
        return made, (full_req / full_s if full_s else made / spent if spent else rate_est), spent

    def row(self, label, snap, base, rate="", hit=None):
        live = snap["live"]
        rss = (snap["rss"] - base["rss"]) * 1024
        red = snap["redis_mem"] - base["redis_mem"]
        per = lambda v: "%.0f" % (v / live) if live >= 1000 else "-"  # noqa: E731
        self.rows.append([label, "{:,}".format(live), rate, "%.1f" % (rss / 2**20), per(rss),
                          "%.1f" % (red / 2**20), per(red), "{:,}".format(snap["keys"]),
                          "%.2f" % (hit["p99_us"] / 1e3) if hit else "", "{:,.0f}".format(hit["rps"]) if hit else "",
                          str(hit["errors"]) if hit else ""])
        print("scale: " + " | ".join(self.rows[-1]), flush=True)


def run(c, wd, t0):
    r = Run(c, wd)
    B.wrk(c.url("/hello"), THREADS, CONNECTIONS, 2)  # fault in the acceptor threads before the baseline
    base = r.snapshot()
    r.row("baseline", base, base)
    B.write_lines(r.cookies, B.harvest_cookies(c.port, "/t/count", "tether_sid", HIT_SESSIONS))
    first = time.monotonic()  # the oldest sessions idle out at first + IDLE
    watch = B.CpuWatch()
    last = None
    rate_est = 5000.0  # sessions/s until measured
    per_session = 2048  # bytes, until measured
    for target in STEPS:
        now = time.monotonic()
        live = B.live_sessions(c)
        step_s = (target - live) / rate_est + HIT_S + 5
        window_end = min(first + IDLE - MARGIN_S, t0 + BUDGET - IDLE - IDLE_PLAN_S)
        need_kib = (target - live) * per_session / 1024
        if now + step_s > window_end:
            why = ("the first sessions would idle out (idle_timeout_s %d) before it ends" % IDLE
                   if first + IDLE - MARGIN_S <= t0 + BUDGET - IDLE - IDLE_PLAN_S else
                   "it would not end within the time budget (%gs, with %gs kept for the idle-out wait)"
                   % (BUDGET, IDLE + IDLE_PLAN_S))
            r.stop_reason = ("stopped before the %s step: at %.0f sessions/s it needs ~%.0fs and %s"
                             % ("{:,}".format(target), rate_est, step_s, why))
            break
        if need_kib > 0.8 * B.mem_available_kib():
            r.stop_reason = ("stopped before the %s step: it needs ~%.0f MiB, MemAvailable is %.0f MiB"
                             % ("{:,}".format(target), need_kib / 1024, B.mem_available_kib() / 1024))
            break
        made, rate_est, spent = r.create_until(target, window_end, rate_est)
        if r.failed:
            r.stop_reason = "stopped at the %s step: %s" % ("{:,}".format(target), r.failed[-1])
            break
        hit = r.hit()
        snap = r.snapshot()
        if snap["live"] > base["live"]:
            per_session = max(256, (snap["rss"] - base["rss"]) * 1024 / snap["live"])
        r.row("{:,}".format(target), snap, base, "{:,.0f}/s".format(rate_est), hit)
        print("scale: %d sessions made in %.1fs of creation runs" % (made, spent), flush=True)
        last = snap
        if snap["live"] < target:
            r.stop_reason = "stopped at the %s step: only %d sessions live when its time ran out" % (
                "{:,}".format(target), snap["live"])
            break
    r.other_cpu, r.steal = watch.result()
    # ---- idle-out: every session (the hit sessions last) ends after IDLE s without a request
    t_idle = time.monotonic()
    deadline_s = IDLE + IDLE_GRACE_S
    print("scale: waiting up to %ds for every session to idle out (idle_timeout_s %d)" % (deadline_s, IDLE),
          flush=True)
    idled = True
    try:
        wait_until(lambda: (B.live_sessions(c) == 0 and B.redis_keys(c.redis_port) <= base["keys"]) or time.sleep(1),
                   deadline_s, "sessions.live == 0 and Redis keys back to the baseline")
    except TimeoutError:
        idled = False
    end = r.snapshot()
    r.row("after idle-out (%.0fs)" % (time.monotonic() - t_idle), end, base)
    return r, base, last, end, idled


def report(r, base, last, end, idled, wall, setup_notes):
    header = ["step", "live sessions", "created/s", "workers RSS +MiB", "RSS B/session", "Redis +MiB",
              "Redis B/session", "Redis keys", "hit p99 ms", "hit req/s", "hit errors"]
    text = B.report_header("make bench-scale", setup_notes) + [
            "- one host: %d tetherd workers (2 session threads each), idle_timeout_s %d; sessions made by cookie-less "
            "wrk runs on /t/count (-t%d -c%d, bounded by count and time); hit = wrk %gs rotating %d cookies"
            % (WORKERS, IDLE, THREADS, CONNECTIONS, HIT_S, HIT_SESSIONS),
            "- RSS = sum of the workers' VmRSS minus the baseline (after a 2 s /hello warm-up); per session = "
            "that / live sessions; it includes the test kit's own session state (a counter, a string, a vector)",
            "", B.table(header, r.rows), "", "Stepping: %s. While it ran, other processes took %.0f%% of the CPUs "
            "and the hypervisor %.0f%% (steal)." % (r.stop_reason, r.other_cpu, r.steal), ""]
    top = last["live"] if last else 0
    rss_per = (last["rss"] - base["rss"]) * 1024 / top if top else None
    red_per = (last["redis_mem"] - base["redis_mem"]) / top if top else None

    def check(name, ok, detail):
        text.append("- %s %s: %s" % ("n/a " if ok is None else "PASS" if ok else "MISS", name, detail))
    text += ["Targets (issue 4; a MISS is a finding, not a failure):", ""]
    check("1,000,000 idle sessions on one host", top >= 1000000, "{:,} reached".format(top))
    check("RSS per session <= 1 KiB", None if rss_per is None else rss_per <= 1024,
          "%.0f B at %s sessions" % (rss_per, "{:,}".format(top)) if rss_per is not None else "no step ran")
    check("Redis per session <= 300 B", None if red_per is None else red_per <= 300,
          "%.0f B at %s sessions%s" % (red_per, "{:,}".format(top), " (the registry does not write Redis yet)"
                                        if last and last["keys"] == base["keys"] else "")
          if red_per is not None else "no step ran")
    check("live sessions back to 0 after idle-out", end["live"] == 0 and idled, "%d live" % end["live"])
    check("Redis keys back to baseline", end["keys"] <= base["keys"],
          "%d keys (baseline %d)" % (end["keys"], base["keys"]))
    kept = (end["rss"] - base["rss"]) * 1024
    peak = (last["rss"] - base["rss"]) * 1024 if last else 0
    text.append("- info workers RSS after idle-out: +%.1f MiB over the baseline (%.0f%% of the peak +%.1f MiB); "
                "freed memory that glibc malloc keeps in its arenas is not returned to the OS"
                % (kept / 2**20, 100.0 * kept / peak if peak else 0, peak / 2**20))
    if r.failed:
        text += ["", "Failures: " + "; ".join(r.failed)]
    text += ["", "Run time: %.0f s." % wall]
    return "\n".join(text) + "\n"


def recovery_section(busy):
    """Issue 18's rows at scale, each on its own cluster: section
    "recovery-scale". True if none failed."""
    parts = []
    if recovery_bench.wanted():
        parts.append(recovery_bench.run(recovery_bench.SCALE_SESSIONS))
    if hibernation_bench.wanted():
        parts.append(hibernation_bench.run())
    head = B.report_header("make bench-scale: recovery and hibernation (issue 18)",
                           (busy, "registry on (each row's own redis-server)", B.build_note()))
    B.write_section("recovery-scale", "\n".join(head) + "\n\n" + "\n".join(t for t, _ in parts))
    return all(good for _, good in parts)


def main():
    B.require_tools(["wrk", "nginx", "redis-server", "redis-cli"])
    busy = B.busy_note(B.cpu_busy())
    print("scale: " + busy, flush=True)
    t0 = time.monotonic()
    wd = tempfile.mkdtemp(prefix="tether-scale-")
    c = Cluster(workdir=wd, workers=WORKERS, config={"idle_timeout_s": IDLE, "lifetime_s": 86400})
    ok = False
    try:
        registry_note = B.start_cluster(c)
        print("scale: up in %s (nginx :%d, %d workers, idle_timeout_s %d, budget %gs)"
              % (wd, c.port, WORKERS, IDLE, BUDGET), flush=True)
        r, base, last, end, idled = run(c, wd, t0)
        text = report(r, base, last, end, idled, time.monotonic() - t0, (busy, registry_note,
                                                                         B.build_note()))
        print()
        print(text)
        B.write_section("scale", text)
        print("scale: written to %s" % os.path.relpath(B.RESULTS_MD, os.getcwd()))
        ok = not r.failed
    finally:
        c.stop()
        B.keep_or_remove(wd, ok, "scale")
    if recovery_bench.wanted() or hibernation_bench.wanted():  # their own clusters, after the one above stopped
        ok = recovery_section(busy) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
