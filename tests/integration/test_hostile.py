"""Hostile input against real workers: thousands of random and altered
tokens, an old token replayed through another worker, paths and headers at
and beyond the limits, path traversal through nginx, slow and stalled
clients, and a FastCGI client that leaves while its request runs.

Covered elsewhere, not repeated here: forged forwarding params from outside
(test_registry.test_forged_forwarding_proof_is_refused), malformed FastCGI
records and bodies cut short (test_fcgi), bodies at and beyond
max_body_bytes (test_fcgi), traversal straight to a worker (test_fcgi),
replay of an ended session's token on its own worker (test_sessions)."""
import base64
import http.client
import json
import os
import random
import socket
import threading
import time
import unittest

import fcgi
from common import REPO, Client, Cluster, build_dir, wait_until, worker_status

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
TOKENS = 10000
MAX_PATH = 8192  # src/http/router.h kMaxPathBytes


def raw_get(port, path, headers=None):
    """One HTTP request with the path sent exactly as given."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def altered(token, rnd):
    """token with one to three random edits: flip, drop, insert, cut, or a new route."""
    t = token
    for _ in range(rnd.randint(1, 3)):
        if not t:
            break
        i = rnd.randrange(len(t))
        op = rnd.randrange(5)
        if op == 0:
            t = t[:i] + rnd.choice(B64.replace(t[i], "")) + t[i + 1:]
        elif op == 1:
            t = t[:i] + t[i + 1:]
        elif op == 2:
            t = t[:i] + rnd.choice(B64 + ".") + t[i:]
        elif op == 3:
            t = t[:i]
        else:
            t = rnd.choice(["h1-0", "h1-1", "h2-0", "h1-00"]) + t[t.index("."):] if "." in t else t
    return t


def random_token(rnd):
    route = rnd.choice(["h1-0", "h1-1", "x", "", "h1-0.h1-1"])
    blob = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 120)))
    return route + "." + base64.urlsafe_b64encode(blob).decode().rstrip("=")


class HostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Params up to 16 MiB (max_params_bytes' ceiling): the oversized paths and
        # headers below must reach the router and the session code, not stop at
        # the params bound (tested in test_bounds).
        cls.cluster = Cluster(workers=2, config={"idle_timeout_s": 600, "max_params_bytes": 16 << 20}).start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def assert_alive(self):
        for n in (0, 1):
            self.assertIsNone(self.cluster.workers[n].poll(), "worker %d died:\n%s" % (n, self.cluster.log(n)[-2000:]))
            self.assertEqual(fcgi.get(self.cluster.worker_addr(n), "/hello").status, 200)

    def test_10000_random_and_altered_tokens_are_never_accepted(self):
        owner = Client(self.cluster.port)
        self.addCleanup(owner.close)
        real = owner.json("/t/count")
        good = owner.cookie
        rnd = random.Random(9)
        tokens = set()
        while len(tokens) < TOKENS:
            t = altered(good, rnd) if len(tokens) % 2 else random_token(rnd)
            if t != good:
                tokens.add(t)
        tokens = sorted(tokens)
        bad = []

        def send(n, part):
            conn = fcgi.Connection(self.cluster.worker_addr(n), timeout=30)
            try:
                for t in part:
                    r = conn.request(keep_conn=True, path="/t/peek", cookie="tether_sid=" + t)
                    body = json.loads(r.body) if r.status == 200 else {}
                    # "new" when the edits left no value at all.
                    if (r.status != 200 or body["reason"] not in ("invalid", "new") or
                            body["session"] == real["session"]):
                        bad.append((t, r.status, body))
            finally:
                conn.close()
        threads = [threading.Thread(target=send, args=(n, tokens[n::2])) for n in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        self.assertFalse(any(t.is_alive() for t in threads), "10,000 requests took over 3 minutes")
        self.assertEqual(bad[:5], [])
        # The real session is untouched: its own count goes on.
        self.assertEqual(owner.json("/t/count")["n"], real["n"] + 1)
        self.assert_alive()

    def test_old_token_replayed_through_another_worker_gets_a_new_session(self):
        c = Client(self.cluster.port)
        self.addCleanup(c.close)
        first = c.json("/t/count")
        old = c.cookie
        self.assertEqual(c.request("/t/end")[0], 200)
        other = 1 if first["owner"] == "h1-0" else 0
        # The token still names its old owner: the other worker forwards, the owner has no such session.
        r = fcgi.get(self.cluster.worker_addr(other), "/t/count", cookie="tether_sid=" + old)
        self.assertEqual(r.status, 200)
        body = json.loads(r.body)
        self.assertEqual((body["reason"], body["n"]), ("expired", 1))
        self.assertNotEqual(body["session"], first["session"])
        cookie = [v for v in r.header("Set-Cookie") if v.startswith("tether_sid=")]
        self.assertTrue(cookie)
        self.assertNotEqual(cookie[0].split(";")[0], "tether_sid=" + old)

    def test_path_at_and_beyond_the_limit(self):
        addr = self.cluster.worker_addr(0)
        at = "/static/" + "a" * (MAX_PATH - len("/static/"))
        self.assertEqual(fcgi.get(addr, at).status, 404)  # matched the file rule: no such file
        self.assertEqual(fcgi.get(addr, at + "a").status, 414)
        # Past the protocol limit it is 414 however long (200 KB once overflowed the acceptor
        # thread's stack inside std::regex; the router is RE2 now, on default thread stacks).
        self.assertEqual(fcgi.get(addr, "/static/" + "a" * 200000).status, 414)
        self.assertEqual(fcgi.get(addr, "/t/" + "b" * 300000).status, 414)
        # Through nginx, its own request-line limit answers first.
        self.assertIn(raw_get(self.cluster.port, "/static/" + "a" * 10000)[0], (400, 414))
        self.assert_alive()

    def test_headers_at_and_beyond_the_limits(self):
        addr = self.cluster.worker_addr(0)
        # Straight to a worker there is no header limit but memory: a 1 MiB header and 5,000 headers.
        r = fcgi.get(addr, "/t/echo", headers={"X-Big": "h" * (1 << 20)})
        self.assertEqual(r.status, 200)
        r = fcgi.get(addr, "/t/echo", headers={"X-H%d" % i: "v" * 20 for i in range(5000)})
        self.assertEqual(r.status, 200)
        # A cookie longer than any token is invalid at once, never parsed further.
        r = fcgi.get(addr, "/t/count", cookie="tether_sid=h1-0." + "A" * 5000)
        self.assertEqual(json.loads(r.body)["reason"], "invalid")
        r = fcgi.get(addr, "/t/count", cookie="; ".join("c%d=%s" % (i, "x" * 50) for i in range(2000)))
        self.assertEqual(json.loads(r.body)["reason"], "new")
        # Through nginx: a header past large_client_header_buffers is refused by nginx.
        self.assertEqual(raw_get(self.cluster.port, "/t/count", {"X-Big": "h" * 20000})[0], 400)
        self.assertEqual(raw_get(self.cluster.port, "/t/count", {"Cookie": "tether_sid=" + "A" * 9000})[0], 400)
        self.assert_alive()

    def test_path_traversal_through_nginx_never_leaves_the_root(self):
        with open(os.path.join(REPO, "README.md"), "rb") as f:
            secret = f.read(200)
        self.assertEqual(raw_get(self.cluster.port, "/static/style.css")[0], 200)
        for path in ("/static/../../../../README.md", "/static/..%2f..%2f..%2f..%2fREADME.md",
                     "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/README.md", "/static/%252e%252e/%252e%252e/README.md",
                     "/static/....//....//....//README.md", "/static/..\\..\\..\\..\\README.md",
                     "/static/%2e%2e%5c%2e%2e%5cREADME.md", "/static//etc/passwd", "/static/%00../README.md",
                     "/static/style.css%00.txt", "/static/" + "../" * 40 + "etc/passwd"):
            with self.subTest(path):
                status, body = raw_get(self.cluster.port, path)
                self.assertIn(status, (400, 404), body[:200])
                self.assertNotIn(secret[:60], body)
                self.assertNotIn(b"root:", body)
        self.assert_alive()

    def test_slow_http_client_does_not_hold_a_worker(self):
        """nginx buffers the request: a client that trickles its body costs no
        worker thread, and the request is served whole once it is complete."""
        body = b"s" * 40
        s = socket.create_connection(("127.0.0.1", self.cluster.port), timeout=30)
        self.addCleanup(s.close)
        s.sendall(b"POST /t/echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
        for i in range(0, 20):
            s.sendall(body[i:i + 1])
            time.sleep(0.05)  # the slowness under test, not synchronisation
            if i == 10:
                self.assertEqual([worker_status(self.cluster, n)["requests"]["in_flight"] for n in (0, 1)], [1, 1],
                                 "only each worker's own status request is in flight")
        s.sendall(body[20:])
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        self.assertIn(b" 200 ", reply.split(b"\r\n", 1)[0])
        self.assertIn(b'"len":40', reply)

    def test_fastcgi_client_gone_while_its_request_runs(self):
        c = Client(self.cluster.port)
        self.addCleanup(c.close)
        first = c.json("/t/count")
        s = fcgi.connect(self.cluster.worker_addr(int(first["owner"][-1])))
        s.sendall(fcgi.request_bytes(fcgi.http_params(path="/t/slow", query="ms=300", cookie="tether_sid=" + c.cookie)))
        s.close()  # gone before the reply
        # The request still runs in its session: a client that sent a whole
        # request and left loses nothing. When the worker reads it is not
        # ordered against the next request (under TSan it may be read after
        # it), so the peeks wait for it; it can never be counted twice.
        wait_until(lambda: c.json("/t/peek")["n"] == first["n"] + 1, 15, "the abandoned request to run")
        self.assertEqual(c.json("/t/count")["n"], first["n"] + 2)
        self.assert_alive()


class StalledFastCgiTest(unittest.TestCase):
    """Connections straight to a worker's socket that never finish a request
    head (any host that can reach a TCP listen address can open them)."""

    def test_stalled_connections_neither_starve_the_worker_nor_stay_open(self):
        c = Cluster(workers=1, nginx=False, tcp=True, config={"acceptor_threads": 4, "keepalive_idle_s": 2}).start()
        self.addCleanup(c.stop)
        addr = c.worker_addr(0)
        stalled = []
        for i in range(12):  # three times the acceptor threads: silent, one byte, half a request
            s = fcgi.connect(addr)
            self.addCleanup(s.close)
            if i % 3 == 1:
                s.sendall(b"\x01")
            elif i % 3 == 2:
                s.sendall(fcgi.request_bytes(fcgi.http_params(path="/t/count"))[:30])
            stalled.append(s)
        for _ in range(3):
            self.assertEqual(fcgi.get(addr, "/t/count").status, 200)
        closed = 0
        for s in stalled:
            s.settimeout(20)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except OSError:
                closed += 1
        self.assertEqual(closed, len(stalled), "keepalive_idle_s is 2: every stalled connection is closed")
        self.assertEqual(fcgi.get(addr, "/t/count").status, 200)

    @unittest.skipIf(os.path.basename(build_dir()) in ("address", "thread"),
                     "a sanitizer reserves terabytes of address space: an address-space limit cannot apply")
    def test_no_thread_left_to_add_is_logged_and_the_worker_goes_on(self):
        # Each acceptor thread reserves its stack (the default, 8 MB) and a
        # malloc arena (64 MB) once it allocates; under an address-space
        # limit the pool stops growing (at 13 threads under 600 MB, measured).
        # Idle connections then hold every thread until keepalive_idle_s
        # frees them.
        c = Cluster(workers=1, nginx=False, redis=False,
                    config={"acceptor_threads": 2, "max_acceptor_threads": 64, "keepalive_idle_s": 2})
        c.worker_cmd = lambda n: ["prlimit", "--as=%d" % (600 << 20), "--"] + Cluster.worker_cmd(c, n)
        c.start()
        self.addCleanup(c.stop)
        addr = c.worker_addr(0)
        idle = [fcgi.connect(addr) for _ in range(24)]
        for s in idle:
            self.addCleanup(s.close)
        wait_until(lambda: '"event":"acceptor_thread_failed"' in c.log(0), 15, "the failed thread to be logged")
        self.assertIsNone(c.workers[0].poll(), "the worker lives on:\n" + c.log(0)[-2000:])
        # Served once keepalive_idle_s has freed threads for the idle
        # connections queued before it: some seconds, hence the long timeout.
        late = fcgi.Connection(addr, timeout=60)
        self.addCleanup(late.close)
        self.assertEqual(late.request(keep_conn=False, path="/t/count").status, 200)
        threads = worker_status(c, 0)["acceptor_threads"]["running"]
        self.assertLess(threads, 24, "the pool stopped where the system had no more")


if __name__ == "__main__":
    unittest.main()
