"""Hostile input against the workflow engine (issue 14), on a real cluster
(redis-server, tetherd workers, nginx): paths with invalid UTF-8, deeply
nested bodies and step answers, poison ticket hashes and queue items
written straight into Redis. After each test every worker still runs with
the pid it started with; a poison ticket ends failed with the reason and is
not run again; a queue item that is no ticket id is removed and counted."""
import http.client
import json
import socket
import subprocess
import time
import unittest

from common import Cluster, tetherctl, wait_until, worker_status
from stepserver import StepServer

LEASE_MS = 600
DEEP = 300000  # nesting levels of the poison values


def quick(body, path, count):
    return 200, {"name": "quick", "data": {"key": body.get("key")}}


def deep(body, path, count):
    return 200, '{"name": "deep", "data": ' + "[" * DEEP + "]" * DEEP + "}"


def request(port, method, path, body=None):
    """One HTTP request with the path sent exactly as given: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        data = body.encode() if isinstance(body, str) else body
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(data or b"")))
        conn.endheaders(data)
        r = conn.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        conn.close()


def resp(port, *args):
    """One Redis command with binary-safe arguments (str or bytes); the reply, decoded loosely."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(out)
        f = s.makefile("rb")
        return read_reply(f)


def read_reply(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b"-"):
        return rest.decode(errors="replace")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [read_reply(f) for _ in range(n)]
    raise AssertionError("unexpected redis reply %r" % line)


def tkey(name, ticket):
    return "tether:wf:%s:ticket:%s" % (name, ticket)


class WorkflowHostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.steps = StepServer({"quick": quick, "deep": deep}).start()
        cls.c = Cluster(workers=2)
        cls.c.config_extra = {"workflows": {
            "demo": {"start_point_url": cls.c.url("/demo/steps/start?key={key}")},
            "quick": {"start_point_url": cls.steps.url("/quick?key={key}"), "lease_ms": LEASE_MS},
            "deep": {"start_point_url": cls.steps.url("/deep"), "retries": 0},
            "bounded": {"start_point_url": cls.steps.url("/quick"), "concurrency": 0, "max_incoming": 3,
                        "ticket_ttl_s": 3600},
        }}
        cls.c.start()
        cls.pids = {n: p.pid for n, p in cls.c.workers.items()}

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()
        cls.steps.stop()

    def tearDown(self):
        self.assert_workers_alive()

    def assert_workers_alive(self):
        for n, proc in self.c.workers.items():
            self.assertIsNone(proc.poll(), "worker %d ended (exit %r); log:\n%s" % (n, proc.poll(), self.c.log(n)[-3000:]))
            self.assertEqual(proc.pid, self.pids[n])
            self.assertEqual(worker_status(self.c, n)["pid"], self.pids[n])

    def redis(self, *args):
        return resp(self.c.redis_port, *args)

    def api(self, method, path, body=None):
        status, headers, raw = request(self.c.port, method, path, body)
        return status, headers, json.loads(raw.decode())

    def ticket(self, name, ticket):
        status, _, j = self.api("GET", "/api/workflow/%s/ticket/%s" % (name, ticket))
        self.assertEqual(status, 200, j)
        return j

    def figures(self, field):
        return sum(worker_status(self.c, n)["workflows"].get(field, 0) for n in self.c.workers)

    # ---- the HTTP side
    def test_invalid_utf8_in_the_path_gets_a_json_error(self):
        status, headers, j = self.api("POST", "/api/workflow/%FF/start", '{"key": "k"}')
        self.assertEqual(status, 404, j)
        self.assertIn("\ufffd", j["error"])
        self.assertEqual(headers["content-type"], "application/json")
        status, _, j = self.api("GET", "/api/workflow/quick/ticket/%FF%FE")
        self.assertEqual(status, 400, j)
        self.assertIn("\ufffd", j["error"])
        status, _, j = self.api("DELETE", "/api/workflow/%C0%AF/ticket/%FF")
        self.assertEqual(status, 404, j)
        status, _, j = self.api("POST", "/demo/steps/%FF", '{"key": "k", "url": "http://x/"}')
        self.assertEqual(status, 404, j)
        self.assertIn("\ufffd", j["error"])

    def test_deeply_nested_bodies_are_refused(self):
        body = '{"key": "k", "data": ' + "[" * 30000 + "]" * 30000 + "}"
        status, _, j = self.api("POST", "/api/workflow/quick/start", body)
        self.assertEqual(status, 400, j)
        self.assertIn("deep", j["error"])
        body = "[" * 400000 + "]" * 400000
        status, _, j = self.api("POST", "/demo/steps/start", body)
        self.assertEqual(status, 400, j)

    def test_deeply_nested_step_answer_fails_the_ticket(self):
        status, _, j = self.api("POST", "/api/workflow/deep/start", '{"key": "d"}')
        self.assertEqual(status, 201, j)
        wait_until(lambda: self.ticket("deep", j["ticket"])["status"] == "failed", 30, "the deep ticket to fail")
        self.assertIn("deep", self.ticket("deep", j["ticket"])["error"])

    # ---- ticket hashes as GET shows them
    def test_ticket_hash_with_invalid_utf8_is_shown_replaced(self):
        t = "0badc0de-0000-4000-8000-000000000001"
        self.redis("HSET", tkey("quick", t), "payload.key", b"k\xff", "payload.data", b'"\xfe"',
                   "status.current", "done", b"status.\xff.time", "12", b"\xff\xfe", b"\xff", "error", b"e\xff")
        j = self.ticket("quick", t)
        self.assertEqual(j["key"], "k\ufffd")
        self.assertEqual(j["status"], "done")
        self.assertEqual(j["times"], {"\ufffd": 12})
        self.assertEqual(j["error"], "e\ufffd")
        rc, out, err = tetherctl(self.c, "workflow", "show", t)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["key"], "k\ufffd")
        rc, out, err = tetherctl(self.c, "--json", "workflow", "list", "quick")
        self.assertEqual(rc, 0, err)
        self.assertIn("k\ufffd", [row["key"] for row in json.loads(out)["tickets"]])

    def test_malformed_ticket_hashes_are_refused_by_get(self):
        cases = {
            "0badc0de-0000-4000-8000-000000000002": ["payload.data", "[" * DEEP, "status.current", "done",
                                                     "payload.key", "k"],
            "0badc0de-0000-4000-8000-000000000003": ["steps", "99999999999", "status.current", "done",
                                                     "payload.key", "k"],
            "0badc0de-0000-4000-8000-000000000004": ["runs", "many", "status.current", "done", "payload.key", "k"],
        }
        for t, fields in cases.items():
            self.redis("HSET", tkey("quick", t), *fields)
            status, _, j = self.api("GET", "/api/workflow/quick/ticket/" + t)
            if status == 200:  # shown, the deep value as its text
                self.assertIsInstance(j["data"], str, t)
            else:
                self.assertEqual(status, 500, (t, j))
                self.assertIn("cannot be read", j["error"])
                rc, _, err = tetherctl(self.c, "workflow", "show", t)
                self.assertEqual(rc, 1, err)
                self.assertIn("cannot be read", err)
        t = "0badc0de-0000-4000-8000-000000000005"
        self.redis("SET", tkey("quick", t), "not a hash")
        status, _, j = self.api("GET", "/api/workflow/quick/ticket/" + t)
        self.assertIn(status, (500, 503), j)

    # ---- poison in the queues
    def test_poison_tickets_fail_with_the_reason_and_are_not_run_again(self):
        poison = {
            "0badc0de-0000-4000-8000-00000000000a": (["payload.key", b"\xff", "payload.data", "null"], "UTF-8"),
            "0badc0de-0000-4000-8000-00000000000b": (["payload.key", "k", "payload.data", "[" * DEEP + "]" * DEEP],
                                                     "payload.data"),
            "0badc0de-0000-4000-8000-00000000000c": (["payload.data", "null"], "payload.key"),
            "0badc0de-0000-4000-8000-00000000000d": (["payload.key", "k", "payload.data", "{not json"],
                                                     "payload.data"),
        }
        for t, (fields, _) in poison.items():
            self.redis("HSET", tkey("quick", t), "status.current", "enqueued", *fields)
            self.redis("LPUSH", "tether:wf:quick:queue:incoming", t)
        not_hash = "0badc0de-0000-4000-8000-00000000000e"
        self.redis("SET", tkey("quick", not_hash), "a string")
        bad_before = self.figures("bad_queue_items")
        for item in (b"\xff", b"not-a-ticket", b"", not_hash, "0badc0de-0000-4000-8000-00000000000f"):
            self.redis("LPUSH", "tether:wf:quick:queue:incoming", item)
        self.redis("LPUSH", "tether:wf:quick:queue:processing", b"\xfe junk")
        status, _, j = self.api("POST", "/api/workflow/quick/start", '{"key": "after-the-poison"}')
        self.assertEqual(status, 201, j)
        good = j["ticket"]
        wait_until(lambda: self.ticket("quick", good)["status"] == "done", 30, "the good ticket to run")
        for t, (_, why) in poison.items():
            wait_until(lambda: self.ticket("quick", t)["status"] == "failed", 30, "poison ticket %s to fail" % t)
        wait_until(lambda: self.redis("LLEN", "tether:wf:quick:queue:incoming") == 0
                   and self.redis("LLEN", "tether:wf:quick:queue:processing") == 0, 30, "the queues to empty")
        self.assertGreaterEqual(self.figures("bad_queue_items") - bad_before, 4)
        self.assertEqual(self.redis("GET", tkey("quick", not_hash)), b"a string")
        # Several lease periods later, each poison ticket has still run once, and failed once.
        deadline = time.monotonic() + 4 * LEASE_MS / 1000.0
        while time.monotonic() < deadline:
            for t, (_, why) in poison.items():
                j = self.ticket("quick", t)
                self.assertEqual((j["status"], j["runs"], j["finished"], j["requeued"]), ("failed", 1, 1, 0), j)
                self.assertIn(why, j["error"])
            time.sleep(0.1)
        self.assertGreaterEqual(self.figures("bad_tickets"), len(poison))


    # ---- bounds
    def test_starts_beyond_max_incoming_get_503_with_retry_after(self):
        # "bounded" runs nowhere (concurrency 0): its tickets wait in incoming.
        for i in range(3):
            status, _, j = self.api("POST", "/api/workflow/bounded/start", '{"key": "b%d"}' % i)
            self.assertEqual(status, 201, j)
        full_before = self.figures("full")
        status, headers, j = self.api("POST", "/api/workflow/bounded/start", '{"key": "one too many"}')
        self.assertEqual(status, 503, j)
        self.assertEqual(headers["retry-after"], "1")
        self.assertIn("max_incoming", j["error"])
        self.assertEqual(self.redis("LLEN", "tether:wf:bounded:queue:incoming"), 3)
        self.assertEqual(self.figures("full") - full_before, 1)
        for n in self.c.workers:
            bounds = worker_status(self.c, n)["workflows"]["bounds"]
            self.assertEqual(bounds["bounded"], {"max_incoming": 3, "ticket_ttl_s": 3600})
            self.assertEqual(bounds["quick"], {"max_incoming": 100000, "ticket_ttl_s": 604800})
        self.redis("DEL", "tether:wf:bounded:queue:incoming")
        status, _, j = self.api("POST", "/api/workflow/bounded/start", '{"key": "room again"}')
        self.assertEqual(status, 201, j)

    def test_finished_and_cancelled_tickets_expire(self):
        status, _, j = self.api("POST", "/api/workflow/quick/start", '{"key": "expiring"}')
        self.assertEqual(status, 201, j)
        t = j["ticket"]
        wait_until(lambda: self.ticket("quick", t)["status"] == "done", 30, "the ticket to finish")
        ttl = self.redis("TTL", tkey("quick", t))
        self.assertTrue(604800 - 60 < ttl <= 604800, ttl)
        status, _, j = self.api("POST", "/api/workflow/bounded/start", '{"key": "to cancel"}')
        self.assertEqual(status, 201, j)
        self.assertEqual(self.redis("TTL", tkey("bounded", j["ticket"])), -1)  # waiting: kept
        status, _, _ = self.api("DELETE", "/api/workflow/bounded/ticket/" + j["ticket"])
        self.assertEqual(status, 200)
        ttl = self.redis("TTL", tkey("bounded", j["ticket"]))
        self.assertTrue(3600 - 60 < ttl <= 3600, ttl)


class WorkflowBoundsConfig(unittest.TestCase):
    def test_bad_bounds_are_refused_naming_the_field(self):
        for field, value in (("max_incoming", 0), ("max_incoming", "10"), ("ticket_ttl_s", -1),
                             ("ticket_ttl_s", 1.5)):
            c = Cluster(workers=1, nginx=False)
            try:
                c.config_extra = {"workflows": {"w": {"start_point_url": "http://127.0.0.1:1/s", field: value}}}
                c.write_config()
                r = subprocess.run([c.tetherd, "--config", c.config_path, "--check-config"], capture_output=True,
                                   text=True, timeout=30)
            finally:
                c.stop()
            self.assertEqual(r.returncode, 2, (field, value, r.stdout))
            self.assertIn("field 'workflows.w.%s': expected an integer" % field, r.stderr)


if __name__ == "__main__":
    unittest.main()
