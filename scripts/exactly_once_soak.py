#!/usr/bin/env python3
"""make soak, the exactly-once part (issue 16 item 5): the schedule of
tests/integration/exactly_once_run.py for CHECKER_SECONDS (default 600) on
loopback: supervisord with 3 workers, Redis with AOF (appendfsync everysec),
journal clients and ticket starts, and a fault every CHECKER_GAP_S (10) s at
random (CHECKER_SEED, 16): kill -9 of a worker, SIGSTOP of a worker in a step
past the lease then SIGCONT, kill -9 of Redis then a restart. Then it waits
for shipping and tickets to settle, consumes the journal and prints the
figures: journal appended / acknowledged / found / lost / duplicated;
tickets, done, failed, runs, step calls, re-run steps, fenced runners, and
every violation. Exit 1 on any violation (or none acknowledged)."""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from exactly_once_run import run  # noqa: E402

SECONDS = float(os.environ.get("CHECKER_SECONDS", 600))
GAP_S = float(os.environ.get("CHECKER_GAP_S", 10))
SEED = int(os.environ.get("CHECKER_SEED", 16))


def main():
    start = time.monotonic()
    # Fewer entries per second than the short schedule: the consumer reads them all at the end.
    report = run(SECONDS, seed=SEED, log=lambda line: print(line, flush=True), gap=GAP_S, per=2, every=0.05)
    j, w = report["journal"], report["workflow"]
    faults = {}
    for f in report["faults"]:
        faults[f["fault"]] = faults.get(f["fault"], 0) + 1
    print("exactly once: %.0f s, seed %d, faults %s" % (time.monotonic() - start, SEED, json.dumps(faults)))
    print("journal: %d appended, %d acknowledged, %d found (%d unacknowledged), %d lost, %d duplicated, "
          "%d unattributed, %d sessions, %d requests failed" % (
              j["appended"], j["acknowledged"], j["found"], j["unacknowledged_found"], len(j["lost"]),
              len(j["duplicated"]), j["unattributed"], j["sessions"], j["requests_failed"]))
    print("workflow: %d tickets, %d done, %d failed, %d runs, %d step calls, %d re-run steps, %d fenced runners, "
          "%d starts refused" % (w["tickets"], w["done"], w["failed"], w["runs"], w["step_calls"], w["steps_rerun"],
                                 w["fenced"], w["refused_starts"]))
    for error, n in w["failed_errors"].items():
        print("  failed %d: %s" % (n, error))
    bad = ["journal: lost %s" % j["lost"][:20]] if j["lost"] else []
    bad += ["journal: duplicated %s" % j["duplicated"][:20]] if j["duplicated"] else []
    bad += w["violations"]
    if j["acknowledged"] == 0:
        bad.append("journal: nothing acknowledged: the run proves nothing")
    for line in bad:
        print("VIOLATION " + line)
    print("exactly once: %s" % ("FAILED" if bad else "ok"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
