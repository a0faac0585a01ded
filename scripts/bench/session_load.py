"""Many test kit sessions driven from a few client threads (the recovery and
hibernation rows of the bench, issue 18): each thread owns a slice of the
sessions and one kept-alive HTTP connection to nginx on loopback, and sends
GET /t/count (the test kit's counter: one step per request) with its
sessions' cookies, keeping the cookie a reply sets (a browser's behaviour:
a recovered session's cookie is reissued). Every answer is recorded with
the client's monotonic clock.

Threads: run_threads starts the client threads and joins them (bounded);
each thread touches only its own slice of Session objects, the caller reads
them after the join. Every loop is bounded in count and time by its caller.
"""
import http.client
import json
import threading
import time

COOKIE = "tether_sid"


class Answer:
    """One reply as the client saw it: times (monotonic s), HTTP status and
    the test kit's JSON (session short id, counter, owner, epoch, start
    reason); status 0 is a socket error."""
    __slots__ = ("t0", "t1", "status", "sid", "n", "owner", "epoch", "reason")

    def __init__(self, t0, t1, status, body):
        self.t0, self.t1, self.status = t0, t1, status
        j = body if isinstance(body, dict) else {}
        self.sid, self.n, self.owner = j.get("session"), j.get("n"), j.get("owner")
        self.epoch, self.reason = j.get("epoch"), j.get("reason")

    def ok(self):
        return self.status == 200 and isinstance(self.n, int)


class Session:
    """A client's view of one session: its cookie and every answer."""
    __slots__ = ("cookie", "answers")

    def __init__(self, cookie=None):
        self.cookie, self.answers = cookie, []


class Conn:
    """One kept-alive connection to nginx; reconnects after a socket error."""

    def __init__(self, port, timeout_s=10):
        self.port, self.timeout_s, self.c = port, timeout_s, None

    def count(self, s, path="/t/count"):
        """One request for session s (a new one when s.cookie is None);
        records the answer in s and returns it."""
        t0 = time.monotonic()
        status, body, cookie = 0, None, None
        try:
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout_s)
            self.c.request("GET", path, headers={"Cookie": "%s=%s" % (COOKIE, s.cookie)} if s.cookie else {})
            r = self.c.getresponse()
            data = r.read()
            status = r.status
            for k, v in r.getheaders():
                if k.lower() == "set-cookie" and v.startswith(COOKIE + "="):
                    cookie = v.split(";", 1)[0][len(COOKIE) + 1:]
            if data[:1] == b"{":
                body = json.loads(data)
            if r.getheader("Connection", "").lower() == "close":
                self.close()
        except (http.client.HTTPException, OSError, ValueError):
            self.close()
        a = Answer(t0, time.monotonic(), status, body)
        if cookie:
            s.cookie = cookie
        s.answers.append(a)
        return a

    def close(self):
        if self.c is not None:
            self.c.close()
        self.c = None


def slices(items, n):
    """items cut into n interleaved slices."""
    return [items[i::n] for i in range(n)]


def run_threads(n, target, timeout_s):
    """Runs target(i) on n threads and waits for them (each is bounded by
    its own deadline; timeout_s is a backstop). Returns the errors raised."""
    errors = []

    def wrap(i):
        try:
            target(i)
        except Exception as e:  # reported by the caller
            errors.append("client %d: %s" % (i, e))
    ts = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    end = time.monotonic() + timeout_s
    for t in ts:
        t.join(max(0.0, end - time.monotonic()))
    if any(t.is_alive() for t in ts):
        errors.append("a client thread was still running after %.0fs" % timeout_s)
    return errors


def drive(port, sessions, threads, steps, deadline, path="/t/count"):
    """`steps` requests for every session (new ones first when their cookie
    is None), `threads` at a time; stops at deadline (monotonic). Returns
    the errors (a thread's exception, a non-200 answer)."""
    parts = slices(sessions, threads)
    bad = []

    def work(i):
        conn = Conn(port)
        try:
            for _ in range(steps):
                for s in parts[i]:
                    if time.monotonic() > deadline:
                        bad.append("client %d: out of time" % i)
                        return
                    a = conn.count(s, path)
                    if not a.ok():
                        bad.append("status %d" % a.status)
        finally:
            conn.close()
    errors = run_threads(threads, work, max(1.0, deadline - time.monotonic()) + 15)
    return errors + bad


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else None
