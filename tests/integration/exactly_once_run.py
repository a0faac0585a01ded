"""The exactly-once schedule (issue 16 item 5): one cluster (supervisord, 3
workers, journal on so Redis runs with AOF appendfsync everysec, the two-step
workflow "eo"), journal clients and ticket starts recorded as a history,
faults while they run (kill -9 of a worker, SIGSTOP past the lease of a
worker in a step then SIGCONT, kill -9 of Redis then a restart on the same
port and directory), then the settle (awaited conditions) and the checkers of
exactly_once.py. run(seconds) is shared by test_exactly_once.py (short) and
scripts/exactly_once_soak.py (long).

Thread safety: each load owns its thread and its history list; faults run
on the caller's thread."""
import http.client
import json
import os
import random
import signal
import socket
import threading
import time

from common import Client, Cluster, default_routes, without_checkpoints, can_connect, stop_pid, stopped_all, tetherctl, wait_until, worker_status
from exactly_once import StepLog, check_journal, check_workflow
from stepserver import StepServer

DOMAIN = "eo"


class Resp:
    """A minimal Redis client (RESP over a socket), so that a few thousand
    HGETALLs need no redis-cli each."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.f = self.sock.makefile("rb")

    def pipeline(self, cmds):
        out = b"".join(b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a)
                                                      for a in (str(x).encode() for x in c)) for c in cmds)
        self.sock.sendall(out)
        return [self._read() for _ in cmds]

    def _read(self):
        line = self.f.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"-":
            return RuntimeError(rest.decode())
        if kind == b"+":
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if int(rest) < 0 else self.f.read(int(rest) + 2)[:-2].decode("utf-8", "replace")
        if kind == b"*":
            return None if int(rest) < 0 else [self._read() for _ in range(int(rest))]
        raise RuntimeError("bad RESP line %r" % line)

    def close(self):
        self.sock.close()


class JournalLoad(threading.Thread):
    """One client appending `per` entries per request to DOMAIN in a loop.
    history: one dict per reply (ok, session, cookie, total, n). The
    session's short id comes from /t/count's reply: a 200 is answered by the
    session its (new or kept) cookie names."""

    def __init__(self, port, stop, per=10, max_requests=100000, every=0.01):
        super().__init__(daemon=True)
        self.port, self.stop, self.per, self.max, self.every = port, stop, per, max_requests, every
        self.history, self.sessions, self.attempted = [], {}, 0

    def _request(self, cl, path):
        try:
            return cl.request(path)
        except (OSError, http.client.HTTPException):  # a worker killed mid-reply: not acknowledged
            cl.close()
            cl.conn = None
            return 599, {}, b""

    def _learn(self, cl):
        status, _, body = self._request(cl, "/t/count")
        if status == 200 and cl.cookie:
            self.sessions[cl.cookie] = json.loads(body)["session"]

    def run(self):
        cl = Client(self.port)
        for _ in range(self.max):
            if self.stop.wait(self.every):  # a pace, not a synchronisation: the load leaves the CPUs some room
                break
            if cl.cookie not in self.sessions:
                self._learn(cl)
            self.attempted += self.per
            status, _, body = self._request(cl, "/t/journal?domain=%s&n=%d" % (DOMAIN, self.per))
            if status != 200:
                self.history.append({"ok": False, "status": status})
                continue
            cookie, total = cl.cookie, json.loads(body)["total"]  # the session that answered: new or kept
            if cookie not in self.sessions:  # this append made a new session: name it now
                self._learn(cl)
            self.history.append({"ok": True, "cookie": cookie, "n": self.per, "total": total,
                                 "session": self.sessions.get(cookie)})
        cl.close()


class TicketLoad(threading.Thread):
    """Starts tickets of the workflow "eo" every `every` s; started: ids of 201s."""

    def __init__(self, port, stop, every=0.1, max_tickets=100000):
        super().__init__(daemon=True)
        self.port, self.stop, self.every, self.max = port, stop, every, max_tickets
        self.started, self.refused = [], 0

    def run(self):
        for i in range(self.max):
            if self.stop.wait(self.every):
                break
            status, ticket = start_ticket(self.port, "k%d" % i)
            if status == 201:
                self.started.append(ticket)
            else:
                self.refused += 1


def start_ticket(port, key):
    cl = Client(port)
    try:
        status, _, body = cl.request("/api/workflow/eo/start", "POST", json.dumps({"key": key}),
                                     {"Content-Type": "application/json"})
        return status, json.loads(body).get("ticket") if status == 201 else None
    except (OSError, ValueError, http.client.HTTPException):
        return 599, None
    finally:
        cl.close()


def step_server(steps):
    """A started StepServer serving steps' `one` and `two`. A worker killed
    mid-call resets its connection: expected here, so not printed."""
    server = StepServer({"one": steps.one, "two": steps.two})
    server.httpd.handle_error = lambda request, client_address: None
    steps.two_url = server.url("/two")
    return server.start()


class NoAofCluster(Cluster):
    """Redis without persistence although the journal is on: what the
    checker must report as lost after Redis' kill -9 (README: AOF off loses
    every entry waiting)."""

    def redis_persistence(self):
        return ["--appendonly", "no"]


def make_cluster(steps, workers=3, supervisord=True, aof=True):
    wf = {"eo": {"start_point_url": steps.url("/one"), "retries": 0, "lease_ms": 600, "concurrency": 4,
                 "step_timeout_ms": 30000, "ticket_ttl_s": 86400}}
    # The journal on: Cluster starts Redis with appendonly yes, appendfsync everysec.
    # Sessions without checkpoints: one restored from a checkpoint legitimately repeats its journal
    # entries' keys of up to one interval, which check_journal would call duplicates.
    return (Cluster if aof else NoAofCluster)(workers=workers, supervisord=supervisord,
                                              routes=without_checkpoints(default_routes()), config={
        "journal": {"fsync": "batch", "backoff_max_ms": 200}, "workflows": wf})


def hgetall(c, key):
    r = Resp(c.redis_port)
    try:
        [v] = r.pipeline([["HGETALL", key]])
    finally:
        r.close()
    return dict(zip(v[0::2], v[1::2])) if isinstance(v, list) else {}


def redis_up(c):
    try:
        r = Resp(c.redis_port)
        try:
            return r.pipeline([["PING"]]) == ["PONG"]  # not while it still loads its AOF
        finally:
            r.close()
    except OSError:
        return False


def worker_pid(c, n):
    """supervisord's pid of worker n; 0 while it is not running."""
    try:
        return c.worker_pid(n)
    except ValueError:
        return 0


def kill9_worker(c, n, faults):
    pid = worker_pid(c, n)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: worker_pid(c, n) not in (0, pid) and can_connect(c.worker_addr(n)), 30,
               "supervisord to restart worker %d" % n)
    faults.append({"fault": "kill -9 worker", "worker": n})


def kill9_redis(c, faults):
    delayed = hgetall_info(c).get("aof_delayed_fsync")
    stop_pid(c.redis, signal.SIGKILL)
    c.start_redis()  # same port and directory: it reloads its AOF
    wait_until(lambda: redis_up(c), 30, "Redis to load its AOF")
    faults.append({"fault": "kill -9 redis", "aof_delayed_fsync_before": delayed})


def hgetall_info(c):
    r = Resp(c.redis_port)
    try:
        [text] = r.pipeline([["INFO", "persistence"]])
    finally:
        r.close()
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)


def sigstop_in_step(c, steps, faults, fences, started, seq):
    """A ticket held in `one`; its worker stopped past the lease; another
    worker takes and ends it; then SIGCONT: the stale runner must stop (its
    ticket_stopped log line) having recorded and called nothing more (W4)."""
    steps.holding.clear()
    for attempt in range(3):  # a ticket may end before its step (Redis just restarted): another one
        status, t = start_ticket(c.port, "hold-%d-%d" % (seq, attempt))
        if status != 201:
            continue
        started.append(t)
        wait_until(lambda: in_step(steps, t) or ended(c, t), 30, "ticket %s in its step" % t)
        if in_step(steps, t):
            break
    else:
        raise AssertionError("no ticket reached its step in 3 tries")
    held = in_step(steps, t)
    n = int(hgetall(c, "tether:wf:eo:ticket:" + t)["worker"].rsplit("-", 1)[1])
    pid = worker_pid(c, n)
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(lambda: stopped_all(pid), 10, "worker %d to stop" % n)
        steps.release()  # its answer waits in the stopped worker's socket
        wait_until(lambda: taken_over(c, t), 30, "another worker to take ticket %s past the lease and end it" % t)
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: any('"ticket_stopped"' in line and t in line for line in c.log(n).splitlines()), 30,
               "the resumed runner of %s to stop" % t)
    faults.append({"fault": "SIGSTOP past the lease", "worker": n, "ticket": t})
    fences.append({"ticket": t, "held_call": held, "worker": n})


def in_step(steps, t):
    """The call id of ticket t's first call of `one`, or None."""
    return next((x["call"] for x in steps.snapshot() if x["ticket"] == t), None)


def ended(c, t):
    return hgetall(c, "tether:wf:eo:ticket:" + t).get("status.current") in ("done", "failed")


def taken_over(c, t):
    """A second run (take) of ticket t has ended it: done, or failed (a Redis
    error during that run fails it; retries 0)."""
    rec = hgetall(c, "tether:wf:eo:ticket:" + t)
    return rec.get("status.current") in ("done", "failed") and int(rec.get("runs") or 0) >= 2


def journal_settled(c):
    try:
        return all(worker_status(c, n)["journal"]["pending"] == 0 for n in range(c.n))
    except (OSError, ValueError, KeyError, AssertionError):
        return False


def consume(c):
    code, out, err = tetherctl(c, "journal", "consume", "--domain", DOMAIN, "--once", "--batch", "1000",
                               timeout=300)
    assert code == 0, err
    return [json.loads(line)["fields"] for line in out.splitlines() if line]


def records(c, tickets):
    r = Resp(c.redis_port)
    try:
        out = r.pipeline([["HGETALL", "tether:wf:eo:ticket:" + t] for t in tickets])
    finally:
        r.close()
    return {t: (dict(zip(v[0::2], v[1::2])) if v else None) for t, v in zip(tickets, out)}


def run(seconds, seed=1, clients=4, log=print, kinds=("kill9_worker", "sigstop", "kill9_redis"), aof=True,
        gap=1.0, per=10, every=0.01):
    """Load + faults for `seconds` (each of `kinds` once, in order, then at
    random), settle, check. Returns the report: journal and workflow figures,
    faults, violations. aof=False: Redis without persistence (a negative control).
    gap: seconds between faults; per, every: entries per append and the pace of each journal client."""
    rnd = random.Random(seed)
    steps = StepLog()
    server = step_server(steps)
    c = make_cluster(server, aof=aof)
    faults, fences = [], []
    t0 = time.monotonic()
    try:
        c.start()
        log("cluster up at %.0f s" % (time.monotonic() - t0))
        stop = threading.Event()
        jl = [JournalLoad(c.port, stop, per=per, every=every) for _ in range(clients)]
        tl = TicketLoad(c.port, stop)
        for th in jl + [tl]:
            th.start()
        deadline, seq = t0 + seconds, 0
        while seq < len(kinds) or time.monotonic() < deadline:
            kind = kinds[seq] if seq < len(kinds) else rnd.choice(kinds)
            stop.wait(gap)
            log("fault %d at %.0f s: %s" % (seq, time.monotonic() - t0, kind))
            if kind == "kill9_worker":
                kill9_worker(c, rnd.randrange(c.n), faults)
            elif kind == "sigstop":
                sigstop_in_step(c, steps, faults, fences, tl.started, seq)
            else:
                kill9_redis(c, faults)
            seq += 1
        stop.set()
        for th in jl + [tl]:
            th.join(60)
        log("load stopped at %.0f s" % (time.monotonic() - t0))
        wait_until(lambda: journal_settled(c), 60, "every worker's journal to ship all it holds")
        started = list(tl.started)

        def finished():  # a hash that is gone never comes back: the checker reports it
            return all(r is None or r.get("status.current") in ("done", "failed")
                       for r in records(c, started).values())
        wait_until(finished, 90, "every started ticket to end")
        log("settled at %.0f s" % (time.monotonic() - t0))
        entries = consume(c)
        log("consumed at %.0f s" % (time.monotonic() - t0))
        acks = [h for cl in jl for h in cl.history if h["ok"]]
        jr = check_journal(acks, entries)
        jr["appended"] = sum(cl.attempted for cl in jl)
        r = Resp(c.redis_port)
        try:  # consumed means done: nothing waits or stays leased
            jr["left_in_store"] = sum(r.pipeline([["ZCARD", "tether:list:" + DOMAIN],
                                                  ["ZCARD", "tether:list:%s:leased" % DOMAIN]]))
        finally:
            r.close()
        jr["requests_failed"] = sum(1 for cl in jl for h in cl.history if not h["ok"])
        jr["sessions"] = len({s for cl in jl for s in cl.sessions.values()})
        jr["delayed_fsync_after"] = hgetall_info(c).get("aof_delayed_fsync")
        wr = check_workflow(started, records(c, started), steps.snapshot(), fences)
        wr["refused_starts"] = tl.refused
        return {"journal": jr, "workflow": wr, "faults": faults, "seconds": round(time.monotonic() - t0, 1)}
    finally:
        steps.release()
        c.stop()
        server.stop()
