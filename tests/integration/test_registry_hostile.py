"""Hostile registry and heartbeat entries in Redis, against real workers,
redis-server and tetherctl: fake directory entries whose figures have the
wrong types, nest 300,000 deep or hold invalid UTF-8; zset members that are
not "host:n"; garbage addresses and counters; session entries that name the
asking worker itself. After each entry the status rule (?scope=host,
?scope=all, ?format=prometheus, ?format=text), `tetherctl status` and
`tetherctl workers` must answer, every worker must keep its pid and a marker
session its state. Anyone who can write to Redis can make tether leave a
worker out of the fleet view; nobody can make it crash."""
import json
import socket
import time
import unittest

import fcgi
from common import Client, Cluster, session_keys, tetherctl, wait_until, worker_status

FUTURE_MS = 10 ** 13  # a zset score far ahead: the fake entry stays "live"


def resp(cluster, *args):
    """One Redis command with arguments sent as raw bytes (redis-cli would
    mangle invalid UTF-8); the first line of the reply."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", cluster.redis_port), timeout=30) as s:
        s.sendall(out)
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert not reply.startswith(b"-"), reply
    return reply


def status(cluster, n, query=""):
    return fcgi.get(cluster.worker_addr(n), "/tether/status", query=query)


NESTED = b"[" * 300000 + b"]" * 300000

# (name, zset member, hash fields): each a directory entry no worker wrote.
HOSTILE_HEARTBEATS = [
    ("figures host is a number", b"h1:5", {"figures": b'{"host":5}'}),
    ("figures worker is a string", b"h1:5", {"figures": b'{"worker":"x"}'}),
    ("figures name another worker", b"h1:5", {"figures": b'{"host":"h1","worker":0,"pid":1}'}),
    ("figures nested 300000 deep", b"h1:5", {"figures": b'{"host":"h1","worker":5,"x":' + NESTED + b"}"}),
    ("figures are only nesting", b"h1:5", {"figures": NESTED}),
    ("figures with invalid UTF-8 value", b"h1:5", {"figures": b'{"host":"h1","worker":5,"name":"\xff\xfe"}'}),
    ("figures with invalid UTF-8 key", b"h1:5", {"figures": b'{"host":"h1","worker":5,"\xc3":1}'}),
    ("counters are strings", b"h1:5",
     {"figures": b'{"host":"h1","worker":5,"pid":"x","started":"y","requests":{"accepted":"many"},'
                 b'"sessions":{"live":"3","ended":5},"redis":{"up":"yes"},"accepting":"no"}'}),
    ("sections of the wrong type", b"h1:5",
     {"figures": b'{"host":"h1","worker":5,"redis":5,"sessions":[1,2],"requests":"x","forward":null}'}),
    ("ended reasons are strings", b"h1:5",
     {"figures": b'{"host":"h1","worker":5,"sessions":{"ended":{"idle":"x","a\\"b":{"c":1}}}}'}),
    ("huge numbers", b"h1:5",
     {"figures": b'{"host":"h1","worker":5,"pid":1e400,"started":-1e308,"requests":{"accepted":18446744073709551615}}'}),
    ("figures not an object", b"h1:5", {"figures": b"[1,2,3]"}),
    ("figures not JSON", b"h1:5", {"figures": b"\xff{"}),
    ("member without a colon", b"garbage", {"figures": b"{}"}),
    ("member with an empty host", b":5", {"figures": b"{}"}),
    ("member with a word for n", b"h1:x", {"figures": b"{}"}),
    ("member with a huge n", b"h1:99999999999999999999", {"figures": b"{}"}),
    ("member with invalid UTF-8", b"\xff\xfe:1", {"figures": b'{"host":"\xff\xfe","worker":1}'}),
    ("garbage addr and counters", b"h1:6",
     {"addr": b"\xff\x00garbage", "pid": b"abc", "sessions": b"-x", "accepting": b"maybe", "started": b"z"}),
    ("addr only", b"h1:7", {"addr": b"unix:/nonexistent/w7.sock"}),
]


# The directory fields of a heartbeat hash that decode (an address nobody
# listens on, not accepting sessions): the figures beside them are on trial.
WELL_FORMED_HASH = {"addr": b"unix:/nonexistent/w5.sock", "accepting": b"0", "sessions": b"0", "pid": b"1",
                    "started": b"1"}


class RegistryHostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        routes = [{"match": "^/tether/status$", "status": {}},
                  {"match": "^/t/", "session": "testkit"}]
        cls.c = Cluster(workers=2, routes=routes, config={"heartbeat_ms": 200}).start()
        wait_until(lambda: all(worker_status(cls.c, n)["redis"]["workers_known"] == 2 for n in range(2)), 15,
                   "both workers in the directory")
        cls.pids = {n: cls.c.workers[n].pid for n in range(2)}
        cls.marker = Client(cls.c.port)
        cls.marker_n = cls.marker.json("/t/count")["n"]

    @classmethod
    def tearDownClass(cls):
        cls.marker.close()
        cls.c.stop()

    def assert_alive(self, what):
        for n, pid in self.pids.items():
            self.assertIsNone(self.c.workers[n].poll(), "%s: worker %d exited; log:\n%s" % (what, n, self.c.log(n)[-3000:]))
            self.assertEqual(self.c.worker_pid(n), pid, "%s: worker %d restarted" % (what, n))
        r = self.marker.json("/t/count")
        self.__class__.marker_n += 1
        self.assertEqual(r["n"], self.marker_n, "%s: the marker session lost its state" % what)

    def read_everything(self, what):
        """Every reader of the directory and the figures answers."""
        for n in range(2):
            for q in ("scope=host", "scope=all", "scope=host&format=prometheus", "scope=all&format=prometheus",
                      "scope=all&format=text"):
                r = status(self.c, n, q)
                self.assertEqual(r.status, 200, "%s: worker %d ?%s -> %d %r" % (what, n, q, r.status, r.body[:300]))
                if "format" not in q:
                    body = json.loads(r.body)
                    names = sorted((w["host"], w["worker"]) for w in body["workers"])
                    self.assertEqual(names, [("h1", 0), ("h1", 1)], "%s: only the real workers are shown" % what)
                    self.assertEqual(body["total"]["workers"], 2, what)
        for args in (("status",), ("--json", "status"), ("workers",), ("--json", "workers")):
            code, out, err = tetherctl(self.c, *args)
            self.assertEqual(code, 0, "%s: tetherctl %s -> %d: %s" % (what, " ".join(args), code, err))
            if args == ("--json", "status"):
                self.assertEqual(len(json.loads(out)["workers"]), 2, what)

    def test_hostile_heartbeats_are_left_out_of_every_view(self):
        for what, member, fields in HOSTILE_HEARTBEATS:
            if "figures" in fields and "addr" not in fields:
                # A hash that decodes, so that its figures are what is refused.
                fields = dict(WELL_FORMED_HASH, **fields)
            key = b"tether:worker:" + member
            with self.subTest(what):
                args = [b"HSET", key]
                for k, v in fields.items():
                    args += [k.encode(), v]
                resp(self.c, *args)
                resp(self.c, "ZADD", "tether:workers", FUTURE_MS, member)
                try:
                    self.read_everything(what)
                finally:
                    resp(self.c, "DEL", key)
                    resp(self.c, "ZREM", "tether:workers", member)
                self.assert_alive(what)
        errors = worker_status(self.c, 0)["errors"]
        self.assertGreater(errors["refused"].get("heartbeat.bad_figures", 0), 0, errors)

    def test_a_worker_key_of_the_wrong_type(self):
        resp(self.c, "SET", "tether:worker:h1:8", "not a hash")
        resp(self.c, "ZADD", "tether:workers", FUTURE_MS, "h1:8")
        try:
            self.read_everything("worker key is a string")
        finally:
            resp(self.c, "DEL", "tether:worker:h1:8")
            resp(self.c, "ZREM", "tether:workers", "h1:8")
        self.assert_alive("worker key is a string")

    def test_hostile_journal_figures_and_domains(self):
        resp(self.c, "HSET", "tether:journal:worker:h1-9", "worker", "5", "pending", "x", "source", b"\xff\xfe",
             "corrupt", "99999999999999999999")
        resp(self.c, "SET", "tether:journal:worker:h1-8", "not a hash")
        resp(self.c, "SADD", "tether:journal:domains", b"\xff\xfe")
        try:
            for args in (("journal", "status"), ("--json", "journal", "status")):
                code, out, err = tetherctl(self.c, *args)
                self.assertEqual(code, 0, "tetherctl %s -> %d: %s" % (" ".join(args), code, err))
            workers = json.loads(tetherctl(self.c, "--json", "journal", "status")[1])["workers"]
            self.assertEqual([w["worker"] for w in workers], ["h1-9"])
            self.assertNotIn("pending", workers[0])
        finally:
            resp(self.c, "DEL", "tether:journal:worker:h1-9", "tether:journal:worker:h1-8", "tether:journal:domains")
        self.assert_alive("hostile journal figures")

    def ended_session_on(self, n):
        """A cookie of worker n whose session ended (its entry gone)."""
        addr = self.c.worker_addr(n)
        before = set(session_keys(self.c))
        r = fcgi.get(addr, "/t/count")
        self.assertEqual(r.status, 200)
        cookie = r.header("Set-Cookie")[0].split(";")[0]
        wait_until(lambda: set(session_keys(self.c)) - before, 10, "the new session's entry")
        key = (set(session_keys(self.c)) - before).pop()
        r = fcgi.get(addr, "/t/end", cookie=cookie)
        self.assertEqual(r.status, 200)
        wait_until(lambda: key not in session_keys(self.c), 10, "the ended session's entry to go")
        return cookie, key

    def test_a_session_entry_naming_the_asking_worker_is_stale_not_a_target(self):
        for n in range(2):
            addr = self.c.worker_addr(n)
            for what, owner in (("another name, this worker's address", ("h9", "7", addr)),
                                ("this worker's name and address", ("h1", str(n), addr)),
                                ("this worker's name, a garbage address", ("h1", str(n), "\xff:garbage")),
                                ("a garbage address", ("h9", "7", "\xff:garbage")),
                                ("an epoch that is a word", ("h1", str(1 - n), self.c.worker_addr(1 - n)))):
                with self.subTest(worker=n, entry=what):
                    cookie, key = self.ended_session_on(n)
                    epoch = "many" if "epoch" in what else "1"
                    now = str(int(time.time() * 1000))
                    resp(self.c, "HSET", key, "host", owner[0], "worker", owner[1], "addr", owner[2].encode(),
                         "epoch", epoch, "created", now, "last_seen", now)
                    resp(self.c, "PEXPIRE", key, 60000)
                    at_max = worker_status(self.c, n)["acceptor_threads"]["at_max"]
                    start = time.monotonic()
                    r = fcgi.get(addr, "/t/count", cookie=cookie)
                    took = time.monotonic() - start
                    self.assertEqual(r.status, 200, "%s: %r" % (what, r.body[:300]))
                    self.assertEqual(json.loads(r.body)["n"], 1, "%s: a new session" % what)
                    self.assertLess(took, 1.5, "%s: answered promptly, not after a loop" % what)
                    self.assertEqual(worker_status(self.c, n)["acceptor_threads"]["at_max"], at_max, what)
                    self.assert_alive(what)


if __name__ == "__main__":
    unittest.main()
