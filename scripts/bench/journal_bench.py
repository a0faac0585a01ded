#!/usr/bin/env python3
"""The journal's rows of `make bench` (issue 6), also runnable alone:
  BUILD=build python3 scripts/bench/journal_bench.py

Drives build/bin/journal_bench (scripts/bench/journal_bench.cpp) against a
private redis-server on a free loopback port, in a temporary directory:
appends per second under each fsync policy (one appending thread, and four
under batch), end-to-end latency from append to stored in Redis (p50/p99,
fsync batch, a steady offered load with the shipper on), and shipping
throughput (a backlog written with the shipper off, then shipped). Each
append row runs BENCH_ROUNDS times (default 3) and shows the median. Prints
a table, PASS/MISS against the issue's targets (>= 50,000 appends/s under
batch; p99 append-to-Redis < 50 ms), and writes section "journal" of
scripts/bench/results.md. Run by bench.py unless BENCH_ROWS is set without
"journal".

Environment: BENCH_ROUNDS (3), BENCH_JOURNAL_N (appends per append row,
100000), BENCH_JOURNAL_RATE (entries/s offered in the latency row, 2000),
BENCH_JOURNAL_SECONDS (length of the latency row, 10).
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import benchlib as B
from cluster import Cluster

ROUNDS = max(1, B.env_int("BENCH_ROUNDS", 3))
N = B.env_int("BENCH_JOURNAL_N", 100000)
RATE = B.env_int("BENCH_JOURNAL_RATE", 2000)
SECONDS = B.env_float("BENCH_JOURNAL_SECONDS", 10)
TARGET_APPENDS = 50000
TARGET_P99_MS = 50


def wanted():
    rows = os.environ.get("BENCH_ROWS")
    return rows is None or "journal" in rows.split(",")


def drive(wd, *args):
    tool = os.path.join(B.cluster.build_dir(), "bin", "journal_bench")
    d = tempfile.mkdtemp(prefix="j-", dir=wd)
    try:
        r = subprocess.run([tool, args[0], "--dir", d] + [str(a) for a in args[1:]], capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0:
            raise RuntimeError("journal_bench %s failed: %s %s" % (" ".join(map(str, args)), r.stdout, r.stderr[-500:]))
        return json.loads(r.stdout)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run():
    """Runs the rows, prints and records them; False if a row could not run."""
    t0 = time.monotonic()
    busy = B.busy_note(B.cpu_busy())
    wd = tempfile.mkdtemp(prefix="tether-bench-journal-")
    c = Cluster(workdir=wd, workers=0, nginx=False)
    ok = False
    try:
        c.start()
        rows, figures = [], {}
        cases = [("always", 1, max(200, N // 50)), ("batch", 1, N), ("batch", 4, N), ("none", 1, N)]
        for policy, threads, n in cases:
            runs = [drive(wd, "append", "--fsync", policy, "--n", n, "--threads", threads)["appends_per_s"]
                    for _ in range(ROUNDS)]
            med = statistics.median(runs)
            figures[(policy, threads)] = med
            rows.append(["appends/s, fsync %s, %d thread%s" % (policy, threads, "s" if threads > 1 else ""),
                         "{:,.0f}".format(med), " / ".join("{:,.0f}".format(x) for x in runs), "%d entries" % n])
        lat = drive(wd, "latency", "--redis-port", c.redis_port, "--n", int(RATE * SECONDS), "--rate", RATE)
        rows.append(["append -> stored in Redis, p50 / p99 / max ms",
                     "%.2f / %.2f / %.2f" % (lat["p50_ms"], lat["p99_ms"], lat["max_ms"]), "",
                     "%d entries at %d/s, fsync batch" % (lat["entries"], RATE)])
        ship = drive(wd, "ship", "--redis-port", c.redis_port, "--n", N)
        rows.append(["shipping throughput, entries/s", "{:,.0f}".format(ship["entries_per_s"]), "",
                     "backlog of %d, %d Redis round trips" % (ship["shipped"], ship["batches"])])
        batch = figures[("batch", 1)]
        verdicts = [
            "%s appends/s under fsync batch (one thread): %s (target >= %s)" % (
                "PASS" if batch >= TARGET_APPENDS else "MISS", "{:,.0f}".format(batch), "{:,}".format(TARGET_APPENDS)),
            "%s p99 append-to-Redis: %.2f ms (target < %d ms)" % (
                "PASS" if lat["p99_ms"] < TARGET_P99_MS else "MISS", lat["p99_ms"], TARGET_P99_MS)]
        text = "\n".join([
            "## journal rows of make bench (%s)" % time.strftime("%Y-%m-%d %H:%M %Z"), "",
            "- machine: %s" % B.machine(), "- %s" % busy, "- tether: build %s" % B.build_note(),
            "- journal_bench in-process: Journal (+ Shipper thread) on this machine's disk, redis-server on "
            "loopback; entries {uri, priority, one field}; append rows: median of %d rounds" % ROUNDS,
            "- latency: from the entry's append time to Redis' acknowledgement of its batch, measured by the "
            "shipper's clock for every entry", "",
            B.table(["case", "figure", "by round", "setup"], rows), ""] + ["- " + v for v in verdicts] +
            ["", "Run time: %.0f s." % (time.monotonic() - t0)]) + "\n"
        print()
        print(text)
        record(text)
        ok = True
    finally:
        c.stop()
        B.keep_or_remove(wd, ok, "bench journal")
    return ok


def record(text):
    """Section "journal" of results.md (added at the end the first time)."""
    begin, end = "<!-- bench:journal -->", "<!-- /bench:journal -->"
    try:
        with open(B.RESULTS_MD) as f:
            old = f.read()
    except OSError:
        old = ""
    if begin not in old:
        with open(B.RESULTS_MD, "a") as f:
            f.write("\n%s\n%s\n" % (begin, end))
    B.write_section("journal", text)


if __name__ == "__main__":
    sys.exit(0 if run() else 1)
