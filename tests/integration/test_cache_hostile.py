"""Hostile cache invalidations and docroot pushes against real workers
(issue 14): regexes that overflowed the stack compiling or matching them
(95 KB, nested 30,000 deep, the catastrophic ((((...(.)...))))*$ against a
3,000-byte cached key), wrong-shaped and badly encoded {prefix}bus:log
entries, docroot pushes with unsafe paths, the same on the pub/sub bus, and
the admin page's invalidate and drain actions with bad input. After each
group every worker keeps its pid, refusals are counted, and a cached page
still works (miss, then hit)."""
import os
import socket
import unittest

import fcgi
from common import Cluster, wait_until, worker_status
from test_admin import page_token
from test_cache import PAGE_RULES, get, wait_cache_ready, write_templates

CATASTROPHIC = "((((((((((((((((((((.))))))))))))))))))))*$"
LONG_KEY_PATH = "/kit/page/p/" + "x" * 3000


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def redis_raw(cluster, *args):
    """One command with arguments sent byte for byte (redis-cli cannot send
    every byte); the first line of the reply."""
    s = socket.create_connection(("127.0.0.1", cluster.redis_port), timeout=30)
    try:
        s.sendall(resp(*args))
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n", 1)[0]
    finally:
        s.close()


def admin(cluster, path, body):
    """An admin action with the CSRF token of the admin page (test_admin.py)."""
    token = page_token(fcgi.direct(cluster.worker_addr(0), "/tether/admin").body)
    return fcgi.direct(cluster.worker_addr(0), path, method="POST", headers={"X-Tether-CSRF": token}, body=body)


class HostileInvalidationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        routes = [{"match": "^/tether/admin(/.*)?$", "admin": {}}] + PAGE_RULES + [
            {"match": "^/pushed/(.*)$", "file": "docroot"}]
        cls.c = Cluster(workers=3, routes=routes, nginx=False)
        cls.c.config_extra = {"templates": write_templates(cls.c.workdir),
                              "cache": {"stale_after_ms": 1000, "docroot": "docroot"}}
        os.makedirs(os.path.join(cls.c.workdir, "docroot"))
        cls.c.start()
        wait_cache_ready(cls.c)
        cls.pids = [cls.c.worker_pid(n) for n in range(cls.c.n)]

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def stat(self, n, *path):
        v = worker_status(self.c, n)["cache"]
        for p in path:
            v = v[p]
        return v

    def assert_alive_and_caching(self, path):
        for n in range(self.c.n):
            self.assertEqual(self.c.worker_pid(n), self.pids[n], "worker %d was restarted" % n)
            how, first, _ = get(self.c, n, path)
            self.assertIn(how, ("miss", "hit"))
            self.assertEqual(get(self.c, n, path)[:2], ("hit", first), "worker %d no longer caches" % n)

    def xadd_all(self, entries):
        """XADDs each entry (a list of field, value) and waits until every
        worker's follower has read them all."""
        before = [self.stat(n, "follower", "entries") for n in range(self.c.n)]
        for fields in entries:
            reply = redis_raw(self.c, "XADD", "tether:bus:log", "*", *fields)
            self.assertFalse(reply.startswith(b"-"), reply)
        for n in range(self.c.n):
            wait_until(lambda: self.stat(n, "follower", "entries") >= before[n] + len(entries), 20,
                       "worker %d to read the hostile entries" % n)

    def test_hostile_regexes_on_the_stream_are_refused_or_matched_in_linear_time(self):
        for n in range(self.c.n):
            get(self.c, n, LONG_KEY_PATH)  # a 3,000-byte key for the catastrophic pattern
        bad_before = [self.stat(n, "bad_messages") for n in range(self.c.n)]
        refused = [
            ["type", "invalidate", "regex", "a" * (95 * 1024)],
            ["type", "invalidate", "regex", "(" * 30000 + "a" + ")" * 30000],
            ["type", "invalidate", "regex", "[z-a]"],
            ["type", "invalidate", "regex", "a{1000}{1000}"],
            ["type", "invalidate"],
            ["type", "invalidate", "groups", ",,,"],
            ["type", "invalidate", "groups", b"\xff\xfe"],
            ["type", "invalidate", "groups", "g" * 5000],
            ["type", "invalidate", "regex", "a", "regex", "b"],
            ["type", "invalidate", "groups", "pages", "origin", "o" * 5000],
            ["type", "docroot"],
            ["type", "docroot", "path", "../../escape.txt"],
            ["type", "docroot", "path", "/etc/passwd"],
            ["type", "docroot", "path", b"a/\xff.txt"],
            ["type", "docroot", "path", "a\nb.txt"],
            ["regex", "no type at all"],
            ["type", b"\xff"],
        ]
        self.xadd_all(refused)
        for n in range(self.c.n):
            self.assertGreaterEqual(self.stat(n, "bad_messages"), bad_before[n] + len(refused), "worker %d" % n)
        # The catastrophic pattern is valid: it matches (and drops) every key, quickly.
        inv_before = [self.stat(n, "invalidated") for n in range(self.c.n)]
        self.xadd_all([["type", "invalidate", "regex", CATASTROPHIC]])
        for n in range(self.c.n):
            self.assertGreater(self.stat(n, "invalidated"), inv_before[n])
        self.assertFalse(os.path.exists(os.path.join(self.c.workdir, "escape.txt")))
        # A good push after the bad ones still reaches every worker.
        redis_raw(self.c, "SET", "tether:cache:docroot:ok/after.txt", "pushed after\n")
        self.xadd_all([["type", "docroot", "path", "ok/after.txt"]])
        for n in range(self.c.n):
            self.assertEqual(fcgi.get(self.c.worker_addr(n), "/pushed/ok/after.txt").body, b"pushed after\n")
        self.assert_alive_and_caching("/kit/page/p/after-stream")

    def test_hostile_messages_on_the_pubsub_bus_are_ignored(self):
        for payload in (b'{"type":"invalidate","regex":"' + b"(" * 30000 + b'"}',
                        b'{"type":"invalidate","regex":"' + CATASTROPHIC.encode() + b'"}',
                        b'{"type":"invalidate","regex":5,"groups":{"a":1}}',
                        b'{"type":"docroot","path":["../x"]}', b'{"type":"invalidate","regex":"\xff"}'):
            self.assertEqual(redis_raw(self.c, "PUBLISH", "tether:bus", payload), b":%d" % self.c.n)  # every worker heard it
        self.assert_alive_and_caching("/kit/page/p/after-bus")

    def test_admin_page_refuses_bad_input_and_survives_the_catastrophic_regex(self):
        for n in range(self.c.n):
            get(self.c, n, LONG_KEY_PATH)
        entries = [self.stat(n, "follower", "entries") for n in range(self.c.n)]
        long_regex = admin(self.c, "/tether/admin/invalidate", b"regex=" + b"a" * (95 * 1024))
        self.assertEqual(long_regex.status, 400)
        self.assertIn(b"too long", long_regex.body)
        deep = admin(self.c, "/tether/admin/invalidate", b"regex=" + b"%28" * 30000)
        self.assertEqual(deep.status, 400)
        for body in (b"regex=%5Bz-a%5D", b"group=%FF", b"group=a%2Cb", b"group=" + b"g" * 5000, b"regex=&group="):
            r = admin(self.c, "/tether/admin/invalidate", body)
            self.assertEqual(r.status, 400, (body[:40], r.body))
        for body in (b"worker=%FF", b"worker=h1-99999999999", b"worker=" + b"h" * 100 + b"-1", b"worker="):
            r = admin(self.c, "/tether/admin/drain", body)
            self.assertEqual(r.status, 400, (body[:40], r.body))
        # Bytes that are not UTF-8 in a valid regex: answered with valid JSON.
        odd = admin(self.c, "/tether/admin/invalidate", b"regex=%FF%FEnothing-has-this")
        self.assertEqual(odd.status, 200, odd.body)
        self.assertIn(b"\xef\xbf\xbd", odd.body)  # U+FFFD in the echoed regex
        cat = admin(self.c, "/tether/admin/invalidate", b"regex=" + CATASTROPHIC.replace("(", "%28").encode())
        self.assertEqual(cat.status, 200, cat.body)
        for n in range(self.c.n):  # the two accepted invalidations reached every worker
            wait_until(lambda: self.stat(n, "follower", "entries") >= entries[n] + 2, 20,
                       "worker %d to read the admin page's invalidations" % n)
        self.assert_alive_and_caching("/kit/page/p/after-admin")


class VariantCapTest(unittest.TestCase):
    def test_query_variants_beyond_the_cap_are_served_uncached(self):
        c = Cluster(workers=1, routes=PAGE_RULES, nginx=False, config={"cache": {"max_variants": 5}})
        c.start()
        try:
            wait_cache_ready(c)
            _, about, _ = get(c, 0, "/kit/page/t/keep")  # another rule's entry
            for i in range(5):
                self.assertEqual(get(c, 0, "/kit/page/p/v", query="i=%d" % i)[0], "miss")
            how, first, _ = get(c, 0, "/kit/page/p/v", query="i=over")
            self.assertEqual(how, "miss")
            self.assertNotEqual(get(c, 0, "/kit/page/p/v", query="i=over")[1], first)  # not stored
            self.assertEqual(get(c, 0, "/kit/page/p/v", query="i=0")[0], "hit")  # the first five stay
            self.assertEqual(get(c, 0, "/kit/page/t/keep")[:2], ("hit", about))
            self.assertGreaterEqual(worker_status(c, 0)["cache"]["over_variants"], 2)
        finally:
            c.stop()


if __name__ == "__main__":
    unittest.main()
