#!/usr/bin/env python3
"""The workflow rows of `make bench` (issue 7); also runs alone:
  BUILD=build python3 scripts/bench/workflow_bench.py

Its own cluster on loopback (redis-server, BENCH_WORKERS tetherd workers, one
nginx), so nothing else's tickets or CPU use mix in:

- starts/s: wrk POSTs {"key": ...} to /api/workflow/starts/start through
  nginx (same wrk settings as the other rows). That workflow has
  "concurrency": 0, so no worker runs its tickets: the row is the API and the
  Redis write (HSET + LPUSH in one MULTI) alone.
- overhead per step: BENCH_WF_TICKETS tickets of a 10-step sequential chain
  (the demo's chain step, a tether controller behind the same nginx), started
  BENCH_WF_AT_ONCE at a time. For each ticket, the engine's time beyond its
  HTTP calls: (run_us - the sum of every step's http_us) / steps. run_us is the
  runner's own clock from taking the ticket to its last step; http_us is
  curl's time for the step's exchange (connect to last byte, so it holds the
  step server's own time and the loopback transport). What is left is the
  engine: JSON, recording each step in Redis, scheduling.
Writes the section "workflow" of results.md; exit 1 if a row had errors.
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

import benchlib as B
from cluster import Cluster, free_port

DURATION = B.env_float("BENCH_DURATION", 10)
WARMUP = B.env_float("BENCH_WARMUP", 2)
CONNECTIONS = B.env_int("BENCH_CONNECTIONS", 32)
THREADS = B.env_int("BENCH_THREADS", 2)
WORKERS = B.env_int("BENCH_WORKERS", 2)
TICKETS = B.env_int("BENCH_WF_TICKETS", 300)
AT_ONCE = B.env_int("BENCH_WF_AT_ONCE", 4)
CHAIN = 10  # steps per ticket
STARTS_TARGET = 2000
OVERHEAD_P99_TARGET_MS = 2.0


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else 0


def redis_lines(port, commands):
    out = subprocess.run(["redis-cli", "-p", str(port)], input="".join(c + "\n" for c in commands),
                         capture_output=True, text=True, timeout=120).stdout
    return out.split("\n")


def starts_row(c):
    url = c.url("/api/workflow/starts/start")
    body = json.dumps({"key": "bench", "data": {"size": 3}})
    B.wrk(url, THREADS, CONNECTIONS, WARMUP, post_body=body)
    calls0 = B.redis_calls(c.redis_port)
    r = B.wrk(url, THREADS, CONNECTIONS, DURATION, post_body=body)
    r["redis_per_req"] = (B.redis_calls(c.redis_port) - calls0) / max(1, r["requests"])
    return r


def overhead_row(c):
    """Starts TICKETS chain tickets, AT_ONCE in flight; per-ticket figures from the hashes."""
    conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=30)
    tickets, pending = [], []
    t0 = time.monotonic()
    deadline = t0 + 300
    while (len(tickets) < TICKETS or pending) and time.monotonic() < deadline:
        while len(pending) < AT_ONCE and len(tickets) < TICKETS:
            conn.request("POST", "/api/workflow/chain/start", body=json.dumps({"key": "t%d" % len(tickets)}))
            r = conn.getresponse()
            t = json.loads(r.read())["ticket"]
            tickets.append(t)
            pending.append(t)
        st = redis_lines(c.redis_port, ["HGET tether:wf:chain:ticket:%s status.current" % t for t in pending])
        pending = [t for t, s in zip(pending, st) if s not in ("done", "failed")]
        time.sleep(0.005)
    wall = time.monotonic() - t0
    fields = ["status.current", "run_us", "steps", "status.enqueued.time", "status.done.time"]
    fields += ["step.%d.http_us" % i for i in range(CHAIN)]
    lines = redis_lines(c.redis_port, ["HMGET tether:wf:chain:ticket:%s %s" % (t, " ".join(fields))
                                       for t in tickets])
    per_step_ms, http_ms, e2e_ms, failed = [], [], [], 0
    for i in range(len(tickets)):
        row = lines[i * len(fields):(i + 1) * len(fields)]
        if row[0] != "done" or int(row[2] or 0) != CHAIN:
            failed += 1
            continue
        https = [int(x) for x in row[5:]]
        per_step_ms.append((int(row[1]) - sum(https)) / CHAIN / 1000.0)
        http_ms += [h / 1000.0 for h in https]
        e2e_ms.append(int(row[4]) - int(row[3]))
    return {"tickets": len(tickets), "failed": failed, "wall": wall, "per_step_ms": per_step_ms,
            "http_ms": http_ms, "e2e_ms": e2e_ms}


def run(setup_notes=None):
    """Runs both rows; returns (markdown section, ok)."""
    wd = tempfile.mkdtemp(prefix="tether-bench-wf-")
    port = free_port()
    c = Cluster(workdir=wd, workers=WORKERS, port=port, config={"workflows": {
        # No runners: tickets pile up in incoming; the row measures starts, not the max_incoming bound.
        "starts": {"start_point_url": "http://127.0.0.1:%d/demo/steps/start" % port, "concurrency": 0,
                   "max_incoming": 1000000000},
        "chain": {"start_point_url": "http://127.0.0.1:%d/demo/steps/chain?n=%d" % (port, CHAIN - 1),
                  "concurrency": 8}}})
    ok = False
    try:
        registry_note = B.start_cluster(c)
        print("bench: workflow rows on nginx :%d, %d workers" % (port, WORKERS), flush=True)
        s = starts_row(c)
        print("bench: workflow starts %.0f/s (errors %d)" % (s["rps"], s["errors"]), flush=True)
        subprocess.run(["redis-cli", "-p", str(c.redis_port), "FLUSHALL"], capture_output=True, check=True)
        o = overhead_row(c)
        print("bench: workflow chain tickets %d (failed %d) in %.1fs" % (o["tickets"], o["failed"], o["wall"]),
              flush=True)
        notes = setup_notes or (B.busy_note(B.cpu_busy()), registry_note, B.build_note())
        text = B.report_header("tether workflow benchmark", notes)
        text += ["- wrk -t%d -c%d -d%gs (warm-up %gs) for starts; %d chain tickets of %d steps, %d started at a "
                 "time, for the overhead" % (THREADS, CONNECTIONS, DURATION, WARMUP, TICKETS, CHAIN, AT_ONCE), ""]
        text += [B.table(["case", "figure", "p50 ms", "p99 ms", "errors", "Redis cmds/req"], [
            ["tickets started through nginx", "%s/s" % format(int(s["rps"]), ","), "%.2f" % (s["p50_us"] / 1000.0),
             "%.2f" % (s["p99_us"] / 1000.0), s["errors"], "%.2f" % s["redis_per_req"]],
            ["engine overhead per step (each ticket's mean over its steps)", "%d tickets" % len(o["per_step_ms"]), "%.3f" % pct(o["per_step_ms"], 50),
             "%.3f" % pct(o["per_step_ms"], 99), o["failed"], ""],
            ["step HTTP exchange (curl, for scale)", "", "%.3f" % pct(o["http_ms"], 50),
             "%.3f" % pct(o["http_ms"], 99), "", ""],
            ["ticket of 10 steps, enqueued to done", "%d tickets" % len(o["e2e_ms"]),
             "%.1f" % pct(o["e2e_ms"], 50), "%.1f" % pct(o["e2e_ms"], 99), "", ""]]), ""]
        text += ["Targets (issue 7; a MISS is a finding, not a failure):", ""]
        text += ["- %s tickets started per second: %.0f/s (target >= %d/s)"
                 % ("PASS" if s["rps"] >= STARTS_TARGET else "MISS", s["rps"], STARTS_TARGET),
                 "- %s engine overhead per step p99: %.3f ms (target <= %.1f ms)"
                 % ("PASS" if pct(o["per_step_ms"], 99) <= OVERHEAD_P99_TARGET_MS else "MISS",
                    pct(o["per_step_ms"], 99), OVERHEAD_P99_TARGET_MS)]
        text = "\n".join(text) + "\n"
        ok = s["errors"] == 0 and o["failed"] == 0 and len(o["per_step_ms"]) > 0
        return text, ok
    finally:
        c.stop()
        B.keep_or_remove(wd, ok, "bench workflow")


def main():
    B.require_tools(["wrk", "nginx", "redis-server", "redis-cli"])
    text, ok = run()
    print()
    print(text)
    B.write_section("workflow", text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
