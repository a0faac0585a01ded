#!/usr/bin/env python3
"""make soak, the ownership checker's long schedule (issue 16, item 5): the
same client threads, history and checks as tests/integration/
test_ownership_checker.py, for CHECKER_SECONDS (default 600) on loopback
only: supervisord with 3 tetherd workers (worker 2 reaches Redis through a
latency proxy), nginx with the route map and a pass-through server that makes
workers forward. Faults are drawn (CHECKER_SEED) from CHECKER_FAULTS, one
after another with CHECKER_GAP_S (5) of plain load between them; after each,
every client must be served again within 60 s. At the end it prints the
figures (sessions, requests, faults by kind, violations with the requests
that prove them) and exits 1 on any violation or a client never served
again. Bounds: CHECKER_CLIENTS (16) threads, CHECKER_MAX_REQUESTS (500000)
requests in all, CHECKER_SECONDS of faults. Everything is stopped by pid.

  CHECKER_FAULTS  comma-separated, of: kill9 sigstop drain restart redis_slow
                  drain_slow redis_stall redis_kill   (default: all)"""
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from common import free_port, passthrough_server, wait_until  # noqa: E402
from ownership_faults import CheckerCluster, Faults, all_see  # noqa: E402
from ownership_history import HistoryLoad, Recorder, check, format_report  # noqa: E402

SECONDS = float(os.environ.get("CHECKER_SECONDS", 600))
CLIENTS = int(os.environ.get("CHECKER_CLIENTS", 16))
MAX_REQUESTS = int(os.environ.get("CHECKER_MAX_REQUESTS", 500000))
GAP_S = float(os.environ.get("CHECKER_GAP_S", 5))
SEED = int(os.environ.get("CHECKER_SEED", int(time.time())))
CONFIG = {"heartbeat_ms": 200, "quick_timeout_ms": 500, "drain_timeout_s": 10, "request_timeout_s": 5,
          "idle_timeout_s": 3600}
WORKERS = 3


def injectors(faults, rng):
    n = lambda: rng.randrange(WORKERS)  # noqa: E731
    return {"kill9": lambda: faults.kill9(n()), "sigstop": lambda: faults.stop_cont(n()),
            "drain": lambda: faults.drain(n()), "restart": faults.rolling_restart,
            "redis_slow": lambda: faults.redis_slow(0.03), "drain_slow": lambda: faults.redis_slow(0.03, drain=True),
            "redis_stall": lambda: faults.redis_slow(0.5), "redis_kill": faults.redis_kill}


def main():
    rng = random.Random(SEED)
    extra_port = free_port()
    c = CheckerCluster(proxied=2, workers=WORKERS, supervisord=True, config=CONFIG,
                       nginx_http_extra=passthrough_server(extra_port))
    rec = Recorder()
    faults = Faults(c, rec, hold_s=2.0)
    table = injectors(faults, rng)
    kinds = [k for k in os.environ.get("CHECKER_FAULTS", ",".join(table)).split(",") if k]
    unknown = [k for k in kinds if k not in table]
    if unknown or not kinds:
        sys.exit("ownership_soak: CHECKER_FAULTS: unknown %s (known: %s)" % (unknown, ", ".join(table)))
    forwarded = CLIENTS // 3
    ports = [c.port] * (CLIENTS - forwarded) + [extra_port] * forwarded
    stuck = []
    print("ownership soak: %d s, %d clients (%d forwarded), faults %s, seed %d" % (
        SECONDS, CLIENTS, forwarded, ",".join(kinds), SEED), flush=True)
    c.start()
    load = None
    try:
        wait_until(lambda: all_see(c, WORKERS), 20, "every worker in every directory")
        load = HistoryLoad(rec, ports, seconds=SECONDS + 120, max_ops=MAX_REQUESTS, pause_s=0.02,
                           fresh_every=200, churners=2).start()
        start = time.monotonic()
        while time.monotonic() - start < SECONDS and load.count() < MAX_REQUESTS:
            time.sleep(GAP_S)  # plain load between two faults
            kind = rng.choice(kinds)
            table[kind]()
            t = time.monotonic()
            try:
                wait_until(lambda: load.served_since(t) == set(range(CLIENTS)), 60, "every client served")
            except TimeoutError:
                stuck.append((kind, sorted(set(range(CLIENTS)) - load.served_since(t))))
            print("ownership soak: %4.0f s  %-11s requests %d" % (time.monotonic() - start, kind, load.count()),
                  flush=True)
    finally:
        if load is not None and not load.stop():
            stuck.append(("end", "client threads still running"))
        c.stop()
    violations = check(rec.ops, rec.faults)
    print(format_report(rec.ops, rec.faults, violations, rec.origin, limit=30))
    for kind, clients in stuck:
        print("NOT SERVED AGAIN after %s: clients %s" % (kind, clients))
    print("ownership soak: %s" % ("FAILED" if violations or stuck else "ok"))
    sys.exit(1 if violations or stuck else 0)


if __name__ == "__main__":
    main()
