"""Bounded resources on a real cluster (redis, nginx, workers), each hit on
purpose with a small cap: max_sessions (a full worker places new sessions on
a worker with room; none left: 503 + Retry-After, and Redis holds no more
entries), max_queued_per_session (429 + Retry-After: 1, the session's state
untouched), max_params_bytes (431, through nginx and raw FastCGI). Each
refusal is counted in /tether/status, and every worker keeps its pid."""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import unittest

import fcgi
from common import Client, Cluster, build_dir, session_keys, wait_until, worker_status, write_key_file


def pids(c):
    return {n: c.worker_pid(n) for n in range(c.n)}


def total(c, *path):
    """The sum over every worker of one status figure, e.g. total(c, "sessions", "refused", "full")."""
    s = 0
    for n in range(c.n):
        v = worker_status(c, n)
        for k in path:
            v = v[k]
        s += v
    return s


class MaxSessionsTest(unittest.TestCase):
    def test_full_workers_place_elsewhere_then_answer_503_with_retry_after(self):
        with Cluster(workers=2, config={"max_sessions": 3, "heartbeat_ms": 200}) as c:
            before = pids(c)
            wait_until(lambda: all(worker_status(c, n)["redis"]["workers_known"] == 2 for n in range(2)), 15,
                       "both workers in each directory")
            self.assertEqual(worker_status(c, 0)["sessions"]["max"], 3)
            # Straight to worker 0: three sessions there (placement "local"),
            # then it is full and places the next three on worker 1.
            cookies = []
            for _ in range(6):
                r = fcgi.get(c.worker_addr(0), "/t/count")
                self.assertEqual(r.status, 200, r.body[:200])
                cookies.append(r.header("Set-Cookie")[0].split(";", 1)[0])
            owners = [k.split("=", 1)[1].split(".", 1)[0] for k in cookies]
            self.assertEqual(owners, ["h1-0"] * 3 + ["h1-1"] * 3)
            # Both full: cookieless requests through nginx, to either worker, get 503.
            cl = Client(c.port)
            self.addCleanup(cl.close)
            for _ in range(20):
                cl.cookie = None
                status, headers, body = cl.request("/t/count")
                self.assertEqual(status, 503, body[:200])
                self.assertEqual(headers.get("retry-after"), "5")
                self.assertIn(b"no worker has room", body)
                self.assertNotIn("set-cookie", headers)
            r = fcgi.get(c.worker_addr(1), "/t/count")  # straight to worker 1 as well
            self.assertEqual(r.status, 503)
            self.assertEqual(r.header("Retry-After"), ["5"])
            # Nothing grew: six sessions, six registry entries.
            self.assertEqual(total(c, "sessions", "live"), 6)
            self.assertEqual(total(c, "sessions", "created"), 6)
            self.assertEqual(len(session_keys(c)), 6)
            self.assertEqual(total(c, "sessions", "refused", "full"), 21)
            # An existing session is served at the cap; an ended one makes room.
            r = fcgi.get(c.worker_addr(0), "/t/count", cookie=cookies[0])
            self.assertEqual(r.status, 200, r.body[:200])
            self.assertEqual(json.loads(r.body)["n"], 2)
            self.assertEqual(fcgi.get(c.worker_addr(0), "/t/end", cookie=cookies[1]).status, 200)
            r = fcgi.get(c.worker_addr(0), "/t/count")
            self.assertEqual(r.status, 200, r.body[:200])
            self.assertTrue(r.header("Set-Cookie")[0].startswith("tether_sid=h1-0."))
            self.assertEqual(pids(c), before)
            for n in range(2):
                self.assertEqual(worker_status(c, n)["pid"], before[n])


class MaxQueuedTest(unittest.TestCase):
    def test_requests_beyond_the_queue_of_one_session_get_429(self):
        with Cluster(workers=1, config={"max_queued_per_session": 2}) as c:
            before = pids(c)
            owner = Client(c.port)
            self.addCleanup(owner.close)
            self.assertEqual(owner.json("/t/count")["n"], 1)
            cookie = "tether_sid=" + owner.cookie
            slow = {}

            def slow_request(i):
                slow[i] = fcgi.get(c.worker_addr(0), "/t/slow", query="ms=3000", cookie=cookie)
            threads = [threading.Thread(target=slow_request, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            # Both are inside the worker (the status request counts itself):
            # one runs, one waits for the session.
            wait_until(lambda: worker_status(c, 0)["requests"]["in_flight"] >= 3, 10, "slow requests in flight")
            status, headers, body = owner.request("/t/count")
            self.assertEqual(status, 429, body[:200])
            self.assertEqual(headers.get("retry-after"), "1")
            r = fcgi.get(c.worker_addr(0), "/t/count", cookie=cookie)
            self.assertEqual(r.status, 429)
            # Another session is not held up by the bound of this one.
            other = Client(c.port)
            self.addCleanup(other.close)
            self.assertEqual(other.json("/t/peek")["n"], 0)
            self.assertEqual(worker_status(c, 0)["sessions"]["refused"]["queued"], 2)
            for t in threads:
                t.join(30)
            self.assertEqual(sorted(r.status for r in slow.values()), [200, 200])
            # The refused requests changed nothing: 1 + the two slow ones, then this one.
            self.assertEqual(owner.json("/t/count")["n"], 4)
            self.assertEqual(worker_status(c, 0)["sessions"]["max_queued_per_session"], 2)
            self.assertEqual(pids(c), before)


class MaxParamsTest(unittest.TestCase):
    def test_params_past_the_bound_get_431(self):
        with Cluster(workers=1, config={"max_params_bytes": 4096}) as c:
            before = pids(c)
            cl = Client(c.port)
            self.addCleanup(cl.close)
            self.assertEqual(cl.json("/t/count")["n"], 1)
            # Through nginx: six headers of 1,000 bytes, each well within nginx's own limits.
            big = dict(("X-Filler-%d" % i, "v" * 1000) for i in range(6))
            status, headers, body = cl.request("/t/count", headers=big)
            self.assertEqual(status, 431, body[:200])
            self.assertIn(b"4096", body)
            # Raw FastCGI: one 5,000-byte param; the worker closes the connection after the reply.
            conn = fcgi.Connection(c.worker_addr(0))
            try:
                r = conn.request(keep_conn=True, path="/t/count", headers={"X-Big": "x" * 5000})
                self.assertEqual(r.status, 431)
                self.assertEqual(conn.sock.recv(1), b"")
            finally:
                conn.close()
            # Just under the bound is served, and the session's state was untouched.
            self.assertEqual(cl.json("/t/count", headers={"X-Some": "v" * 1000})["n"], 2)
            s = worker_status(c, 0)
            self.assertEqual(s["requests"]["params_too_large"], 2)
            self.assertEqual(pids(c), before)


class BoundsConfigTest(unittest.TestCase):
    def test_bad_bounds_are_refused_with_file_and_field(self):
        d = tempfile.mkdtemp(prefix="tether-bounds-")
        self.addCleanup(shutil.rmtree, d, True)
        key = os.path.join(d, "keys")
        write_key_file(key)
        path = os.path.join(d, "tether.json")
        tetherd = os.path.join(build_dir(), "bin", "tetherd")
        for field, value, needle in (("max_sessions", 0, "from 1 to"), ("max_queued_per_session", "2", "integer"),
                                     ("max_params_bytes", 100, "from 1024 to")):
            with open(path, "w") as f:
                f.write('{"listen": "unix:%s/w{worker}.sock", "key_file": "%s", "%s": %s}'
                        % (d, key, field, value if isinstance(value, int) else '"%s"' % value))
            r = subprocess.run([tetherd, "--config", path, "--check-config"], capture_output=True, text=True,
                               timeout=20)
            self.assertEqual(r.returncode, 2, r.stderr)
            for n in (path, field, needle):
                self.assertIn(n, r.stderr)


if __name__ == "__main__":
    unittest.main()
