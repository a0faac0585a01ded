"""The cross-cutting hostile-input net of issue 14, on one real cluster
(redis-server, two tetherd workers under supervisord, nginx, the demo
config and workflow): groups of hostile inputs, each followed by the same
check. Into every rule kind and every API: paths with %FF, %00, overlong
UTF-8 and 8 KB+; odd methods; invalid UTF-8 and NUL bytes in query, form,
cookies and headers; JSON bodies nested 100,000 deep and bodies at
max_body_bytes; the issue's three crashes. Into every key tether reads from
Redis: bus messages, {prefix}bus:log entries, heartbeat hashes and figures,
session entries (and one naming the asking worker itself), ticket hashes and
queue items, each wrong-typed, badly encoded and deeply nested; one compact
pass each (test_*_hostile.py and test_bounds.py go deeper).

After each group: every worker keeps its pid (from supervisord, and as it
reports itself), a marker notes session and a marker counter session keep
their state, nothing new is caught by the firewall (no exception reached a
boundary), and the group's refusals are counted in /tether/status
"errors". Last, a note holding the byte 0xFF survives its worker's drain:
handed over with U+FFFD in its place, the drain completes, no worker
crashes."""
import json
import os
import socket
import unittest

import fcgi
from common import Client, Cluster, can_connect, session_keys, tetherctl, wait_until, worker_status
from cluster import demo_workflows

PREFIX = "tether:"  # the cluster's redis prefix (the default)
NEST = 100000
MAX_BODY = 1 << 20  # max_body_bytes (default)
FUTURE_MS = 10 ** 13
FORM = b"application/x-www-form-urlencoded"
MARKER = "marker note \u2713"
# One path per rule kind of the demo config (scripts/cluster.py default_routes).
RULE_PATHS = ["/", "/notes", "/api/notes", "/logout", "/t/count", "/t/echo", "/hello", "/about",
              "/static/style.css", "/api/workflow/demo/start",
              "/api/workflow/demo/ticket/00000000-0000-0000-0000-000000000000", "/tether/status",
              "/tether/ping", "/tether/admin", "/tether/admin/status", "/tether/admin/drain",
              "/tether/admin/invalidate", "/demo/steps/start"]
STATUS_QUERIES = [b"", b"format=prometheus&scope=host", b"format=prometheus&scope=all", b"scope=host",
                  b"scope=all", b"format=text&scope=all", b"scope=%FF&format=%00"]
HOSTILE_QUERY = (b"text=%FF%00&worker=%FF&regex=%FF%00(&group=%FF&key=%FF&ms=%FF&v=%FF%C0%AF&format=%FF"
                 b"&scope=%FF&\xff=\x00&id=%00")


def deep(n=NEST):
    return b"[" * n + b"]" * n


def resp(c, *args):
    """One Redis command, every argument sent byte for byte: a bulk reply's
    bytes (None for nil), else the reply's first line (b":2", b"+OK")."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", c.redis_port), timeout=30) as s:
        s.sendall(out)
        f = s.makefile("rb")
        line = f.readline().rstrip(b"\r\n")
        assert not line.startswith(b"-"), (args[:2], line)
        if not line.startswith(b"$"):
            return line
        n = int(line[1:])
        return None if n < 0 else f.read(n + 2)[:-2]


params = fcgi.byte_params


def raw_fcgi(c, n, p, body=b""):
    """One request straight to worker n's socket; the Reply (EOFError if the worker dropped it)."""
    return fcgi.raw_request(c.worker_addr(n), p, body)


def raw_http(c, head, body=b""):
    """One HTTP/1.1 request through nginx, the request line and headers as given bytes; (status, body)."""
    with socket.create_connection(("127.0.0.1", c.port), timeout=30) as s:
        s.sendall(head + b"\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    line, _, rest = data.partition(b"\r\n")
    return int(line.split()[1]), rest.partition(b"\r\n\r\n")[2]


class HostileInputsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(workers=2, supervisord=True)
        cls.c.config_extra = {"heartbeat_ms": 200, "drain_timeout_s": 10, "idle_timeout_s": 600,
                              "workflows": demo_workflows(cls.c.port)}
        cls.c.start()
        try:
            wait_until(lambda: all(cls.known(n) == 2 for n in range(2)), 20, "both workers in each directory")
            cls.pids = {n: cls.c.worker_pid(n) for n in range(2)}
            cls.expected_exits = []
            cls.notes = Client(cls.c.port)
            cls.notes.request("/notes", "POST", b"text=" + MARKER.encode(), {"Content-Type": FORM.decode()})
            cls.notes_sid = cls.notes.json("/api/notes")["session"]
            cls.counter = Client(cls.c.port)
            cls.count = cls.counter.json("/t/count")["n"]
        except Exception:
            cls.c.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.notes.close()
        cls.counter.close()
        cls.c.stop()

    @classmethod
    def known(cls, n):
        try:
            return worker_status(cls.c, n)["redis"]["workers_known"]
        except (OSError, EOFError, ValueError, KeyError):
            return 0

    def errors(self):
        """Per worker, the status "errors" section."""
        return {n: worker_status(self.c, n)["errors"] for n in range(2)}

    def setUp(self):
        self.before = self.errors()

    def delta(self, section, name, n):
        return worker_status(self.c, n)["errors"][section].get(name, 0) - self.before[n][section].get(name, 0)

    def check(self, group, refused=(), every_worker=()):
        """The check after each group. refused: kinds that must be counted on
        some worker; every_worker: {kind: at least} counted on each worker."""
        self.assertEqual(self.exits(), self.expected_exits, "%s: a worker ended" % group)
        for n, pid in self.pids.items():
            self.assertEqual(self.c.worker_pid(n), pid, "%s: worker %d restarted; log:\n%s" %
                             (group, n, self.c.log(n)[-3000:]))
            self.assertEqual(worker_status(self.c, n)["pid"], pid, group)
        notes = self.notes.json("/api/notes")
        self.assertEqual((notes["session"], [x["text"] for x in notes["notes"]]), (self.notes_sid, [MARKER]),
                         "%s: the marker notes session lost its state" % group)
        self.__class__.count += 1
        self.assertEqual(self.counter.json("/t/count")["n"], self.count, "%s: the marker counter" % group)
        for kind in refused:
            wait_until(lambda: sum(self.delta("refused", kind, n) for n in range(2)) > 0, 10,
                       "%s: %s counted" % (group, kind))
        for kind, least in dict(every_worker).items():
            for n in range(2):
                wait_until(lambda: self.delta("refused", kind, n) >= least, 10,
                           "%s: %d x %s counted on worker %d" % (group, least, kind, n))
        after = self.errors()
        caught = {(n, place): k - self.before[n]["caught"].get(place, 0)
                  for n in range(2) for place, k in after[n]["caught"].items()
                  if k != self.before[n]["caught"].get(place, 0)}
        self.assertEqual(caught, {}, "%s: exceptions reached a firewall (a bug below it)" % group)
        self.assertEqual([e["threads_stopped"] for e in after.values()], [{}, {}], group)

    def answered(self, r, what, allowed=(200, 204, 301, 302, 303, 400, 401, 403, 404, 405, 409, 413, 414, 431)):
        """An allowed status; a JSON answer is valid UTF-8 JSON (U+FFFD for the bytes it quotes)."""
        status = r.status if hasattr(r, "status") else r
        self.assertIn(status, allowed, "%s -> %r" % (what, getattr(r, "body", b"")[:300]))
        if hasattr(r, "header") and any("json" in v for v in r.header("Content-Type")):
            json.loads(r.body.decode("utf-8"))

    def exits(self):
        """supervisord's lines for workers that ended: a crash shows here even after a restart."""
        with open(os.path.join(self.c.workdir, "supervisord.log")) as f:
            return [line.split(" INFO ", 1)[-1].strip() for line in f if " exited: " in line or "terminated" in line]

    # ---- HTTP inputs
    def test_10_paths_with_invalid_utf8_nul_overlong_and_8k(self):
        for path in (b"/%FF", b"/%FF%FE/notes", b"/notes%00", b"/t/%00count", b"/t/count%FF", b"/static/%00",
                     b"/static/%C0%AF..%C0%AF..%C0%AFREADME.md", b"/%C0%AE%C0%AE/%C0%AE%C0%AE/README.md",
                     b"/api/workflow/%C0%80/start", b"/api/workflow/demo%00/ticket/%FF", b"/tether/status%00",
                     b"/tether/admin/%FF", b"/about%FF", b"/hello%00", b"/demo/steps/%FF%FE",
                     b"/api/notes/" + b"%FF" * 2600, b"/t/" + b"a" * 7000 + b"%FF", b"/" + b"%FF" * 3000):
            with self.subTest(path=path[:60]):
                for method in (b"GET", b"POST"):
                    self.answered(raw_http(self.c, method + b" " + path + b" HTTP/1.1")[0], path[:60])
        for n in range(2):
            for path in (b"/\xff", b"/t/\x00count", b"/api/workflow/\xff\x00/start", b"/tether/admin/\xc0\xaf",
                         b"/static/\xff" + b"a" * 8200, b"/" + b"\x00" * 8191, b"/t/" + b"\xff" * 9000,
                         b"/api/workflow/demo/ticket/" + b"\xff" * 36, b""):
                with self.subTest(worker=n, path=path[:40]):
                    self.answered(raw_fcgi(self.c, n, params("POST", path)), path[:40])
        self.check("paths")

    def test_20_odd_methods_into_every_rule(self):
        methods = [b"PROPFIND", b"", b"M" * 1024, b"GET\xff", b"G\x00T", b"get", b"POST "]
        for i, path in enumerate(RULE_PATHS):
            for method in methods:
                with self.subTest(path=path, method=method[:20]):
                    self.answered(raw_fcgi(self.c, i % 2, params(method, path)), path)
            self.answered(raw_http(self.c, b"PROPFIND " + path.encode() + b" HTTP/1.1")[0], path)
        for q in STATUS_QUERIES:
            self.answered(raw_fcgi(self.c, 0, params(b"PROPFIND", "/tether/status", q)), q)
        self.check("odd methods")

    def test_30_invalid_utf8_and_nul_in_query_form_cookies_headers(self):
        hostile = {b"HTTP_X_TETHER_ADMIN": b"1", b"HTTP_X_BAD": b"\xff\x00\xfe", b"HTTP_\xff\x00": b"\xff",
                   b"HTTP_ACCEPT": b"\xc0\xaf", b"HTTP_USER_AGENT": b"\x00" * 100}
        cookies = [b"tether_sid=\xff\x00\xfe; \xff=\x00", b"tether_sid=h1-0.\xff\xff", b"tether_sid=%FF%00",
                   b"tether_sid=" + self.counter.cookie.encode() + b"\xff"]
        for i, path in enumerate(RULE_PATHS):
            for j, cookie in enumerate(cookies):
                with self.subTest(path=path, cookie=j):
                    for method in ("GET", "POST"):
                        p = params(method, path, HOSTILE_QUERY, HOSTILE_QUERY, cookie, FORM + b"; charset=\xff",
                                   hostile)
                        self.answered(raw_fcgi(self.c, (i + j) % 2, p, HOSTILE_QUERY), path)
            status, _ = raw_http(self.c, b"POST " + path.encode() + b"?" + HOSTILE_QUERY.replace(b"\xff", b"%FF")
                                 .replace(b"\x00", b"%00") + b" HTTP/1.1\r\nX-Tether-Admin: 1\r\nX-Bad: \xff\xfe"
                                 b"\r\nCookie: tether_sid=\xff; a=\xfe\r\nContent-Type: " + FORM, HOSTILE_QUERY)
            self.answered(status, path)
        for q in STATUS_QUERIES:
            self.answered(raw_http(self.c, b"GET /tether/status?" + q + b"&x=%FF HTTP/1.1\r\nX-Bad: \xff")[0], q)
        # Hostile query, headers and cookie alongside the marker's own cookie: its session reads them.
        for path in ("/api/notes", "/", "/notes/none"):
            cookie = b"tether_sid=" + self.notes.cookie.encode() + b"; x=\xff\x00"
            self.answered(raw_fcgi(self.c, int(self.notes.cookie[3]), params("GET", path, HOSTILE_QUERY, b"",
                                                                            cookie, None, hostile)), path)
        self.check("encodings")

    def test_40_deep_json_and_bodies_at_max_body_bytes(self):
        at_max = deep(MAX_BODY // 2)
        bodies = [deep(), b'{"key":"k","data":' + deep() + b"}", b'{"text":' + deep() + b"}",
                  b'{"key":"\xff\xfe","data":"\x00"}', b'{"text":"\xff"}', b'{"key":"\\ud800"}', b"\xff" * 5000]
        for i, path in enumerate(RULE_PATHS):
            for j, body in enumerate(bodies):
                with self.subTest(path=path, body=j):
                    p = params("POST", path, b"", body, None, b"application/json", {b"HTTP_X_TETHER_ADMIN": b"1"})
                    self.answered(raw_fcgi(self.c, (i + j) % 2, p, body), path)
        for path in ("/api/workflow/demo/start", "/api/notes", "/demo/steps/start", "/tether/admin/invalidate",
                     "/t/echo"):
            with self.subTest(at_max=path):
                head = b"POST " + path.encode() + b" HTTP/1.1\r\nContent-Type: application/json\r\nX-Tether-Admin: 1"
                self.answered(raw_http(self.c, head, at_max)[0], path)
                self.assertEqual(raw_http(self.c, head, at_max + b" ")[0], 413, path)
        self.check("deep and large bodies")

    def test_50_the_three_crashes_of_the_issue(self):
        status, body = raw_http(self.c, b"POST /api/workflow/%FF/start HTTP/1.1\r\nContent-Type: application/json",
                                b'{"key":"k"}')
        self.assertEqual(status, 404, body)
        self.assertIn("\ufffd", json.loads(body.decode())["error"])  # valid UTF-8, U+FFFD for the byte
        for payload in (b'{"type":"kill","sid":1}', b'{"type":"drain","worker":1}'):
            self.assertEqual(resp(self.c, "PUBLISH", PREFIX + "bus", payload), b":2")  # both workers hear it
        self.check("the issue's crashes", every_worker={"bus.bad_message": 2})
        # (The third, a note with 0xFF and a drain: test_99.)

    def test_45_forged_peer_params_and_handover_envelopes(self):
        """Anyone who reaches nginx's listener can send TETHER_* params: they are
        not a peer's there, and the request is served as any other (a hand-over
        path is not a hand-over). The peer listener answers nothing but the
        peer handshake: the same requests sent there are refused
        (peer.bad_hello) and their connections closed, whatever bytes they hold."""
        forged = [{b"TETHER_PEER": b"h1-0", b"TETHER_TIME": b"\xff", b"TETHER_SIG": b"\x00" * 64},
                  {b"TETHER_PEER": b"\xff\x00", b"TETHER_SIG": b"zz"}, {b"TETHER_REASON": deep(100)},
                  {b"TETHER_CLIENT": b"\xff", b"TETHER_TIME": b"99999999999999999999999", b"TETHER_SIG": b""},
                  {b"TETHER_\xff": b"1"}]
        sent = 0
        for i, extra in enumerate(forged):
            for path, body in (("/tether/handover", deep()), ("/tether/handover", b'{"sid":1,"state":"\xff"}'),
                               ("/t/count", b""), ("/api/notes", b'{"text":"x"}')):
                with self.subTest(forged=i, path=path):
                    p = params("POST", path, b"", body, None, b"application/json", extra)
                    self.answered(raw_fcgi(self.c, i % 2, p, body), path)
                    self.assertTrue(fcgi.refused_by_peer_listener(self.c.peer_addr(sent % 2),
                                                                  fcgi.request_bytes(p, body)), path)
                    sent += 1
        for n in range(2):
            self.assertTrue(fcgi.refused_by_peer_listener(self.c.peer_addr(n), fcgi.get_values_overflow()))
        self.check("forged peer params", every_worker={"peer.bad_hello": sent // 2 + 1})

    # ---- what tether reads from Redis
    def test_60_bus_messages_of_every_type(self):
        bad = [b'{"type":"kill","sid":1}', b'{"type":"kill","sid":"\xff"}', b'{"type":"kill"}',
               b'{"type":"kill","sid":["00000000000000000000000000000000"]}', b'{"type":"kill","sid":' + deep() + b"}",
               b'{"type":"drain","worker":1}', b'{"type":"drain","worker":"\xff"}', b'{"type":"drain","worker":null}',
               b'{"type":"drain","worker":["h1-0"]}', b'{"type":"drain","worker":"h1-0\\u0000"}',
               b'{"type":"drain","worker":"h1-99999999999999999999"}', b'{"type":5}', b'{"type":"\xff"}',
               b'"\xff"', deep(), b"\xff\xfe", b"", b"[]", b"null", b'{"type":"drain","worker":' + deep() + b"}"]
        for payload in bad:
            self.assertEqual(resp(self.c, "PUBLISH", PREFIX + "bus", payload), b":2", payload[:40])
        resp(self.c, "PUBLISH", PREFIX + "bus", '{"type":"kill","sid":"%s"}' % ("0" * 32))  # no such session
        resp(self.c, "PUBLISH", PREFIX + "bus", '{"type":"drain","worker":"h9-9"}')  # no such worker
        resp(self.c, "PUBLISH", PREFIX + "bus", '{"type":"newer","x":{"y":[1]}}')  # another component's
        self.check("bus messages", every_worker={"bus.bad_message": len(bad)})

    def test_61_bus_log_stream_entries(self):
        key = PREFIX + "bus:log"
        entries = [[b"type", b"invalidate", b"regex", b"\xff\xfe"], [b"type", b"invalidate", b"regex", b"(" * 30000],
                   [b"type", b"invalidate", b"regex", b"a" * 100000], [b"type", b"invalidate", b"groups", b",\xff,"],
                   [b"type", b"invalidate"], [b"type", b"\xff"], [b"regex", b"x"], [b"type", deep(1000)],
                   [b"type", b"docroot", b"path", b"../../etc/passwd"], [b"type", b"docroot", b"path", b"\xff\x00"],
                   [b"type", b"invalidate", b"type", b"docroot", b"regex", b"x"],
                   [b"type", b"invalidate", b"regex", b"x"] + [x for i in range(40) for x in (b"f%d" % i, b"v")]]
        for fields in entries:
            resp(self.c, "XADD", key, "*", *fields)
        self.check("bus:log entries", refused=("cache.bad_stream_entry", "cache.bad_invalidation"))

    def test_62_heartbeat_hashes_and_figures(self):
        fakes = [(b"h1:5", b"figures", b'{"host":5}'), (b"h1:5", b"figures", b'{"worker":"x"}'),
                 (b"h1:5", b"figures", b'{"host":"h1","worker":5,"x":' + deep() + b"}"),
                 (b"h1:5", b"figures", b'{"host":"\xff","worker":5,"\xc3":1}'),
                 (b"h1:6", b"addr", b"\xff\x00garbage"), (b"h1:6", b"pid", b"\xff"), (b"h1:6", b"sessions", b"-x"),
                 (b"\xff:1", b"figures", b"{}"), (b"h1:x", b"figures", b"[]")]
        for member, field, value in fakes:
            with self.subTest(member=member, value=value[:40]):
                key = PREFIX.encode() + b"worker:" + member
                base = {b"addr": b"unix:/nonexistent/w.sock", b"pid": b"1", b"sessions": b"0", b"accepting": b"1",
                        b"started": b"1", field: value}  # a good hash, so that its figures are read
                resp(self.c, "HSET", key, *[x for kv in base.items() for x in kv])
                resp(self.c, "ZADD", PREFIX + "workers", FUTURE_MS, member)
                try:
                    for n in range(2):
                        for q in STATUS_QUERIES:
                            self.answered(raw_fcgi(self.c, n, params("GET", "/tether/status", q)), q)
                        self.answered(raw_fcgi(self.c, n, params("GET", "/tether/admin/status")), "admin status")
                    self.assertEqual(tetherctl(self.c, "status")[0], 0)
                finally:
                    resp(self.c, "DEL", key)
                    resp(self.c, "ZREM", PREFIX + "workers", member)
        resp(self.c, "SET", PREFIX + "worker:h1:7", "not a hash")
        resp(self.c, "ZADD", PREFIX + "workers", FUTURE_MS, "h1:7")
        try:
            self.answered(raw_fcgi(self.c, 0, params("GET", "/tether/status", "scope=all")), "wrong type")
        finally:
            resp(self.c, "DEL", PREFIX + "worker:h1:7")
            resp(self.c, "ZREM", PREFIX + "workers", "h1:7")
        self.check("heartbeats", refused=("heartbeat.bad_figures", "heartbeat.bad_hash", "registry.bad_member"))

    def ended_session(self, n):
        """A cookie of a testkit session that ended on worker n, and its (gone) registry key."""
        before = set(session_keys(self.c))
        r = raw_fcgi(self.c, n, params("GET", "/t/count"))
        self.assertEqual(r.status, 200)
        key = (set(session_keys(self.c)) - before).pop()
        cookie = r.header("Set-Cookie")[0].split(";")[0]
        self.assertEqual(raw_fcgi(self.c, n, params("GET", "/t/end", cookie=cookie)).status, 200)
        wait_until(lambda: key not in session_keys(self.c), 10, "the ended session's entry to go")
        return cookie, key

    def test_63_session_entries(self):
        """Its owner no longer has the session: it asks the registry, which holds a hostile entry."""
        n = 1
        cases = [[b"host", b"\xff", b"worker", b"x", b"addr", b"\x00", b"epoch", b"\xff"],
                 [b"host", b"h1", b"worker", b"99999999999999999999", b"epoch", deep(1000)],
                 [b"host", b"h1", b"worker", b"0", b"addr", b"unix:/nonexistent", b"epoch", b"-1", b"created", b"x"],
                 [b"host", deep(1000), b"worker", deep(1000)],
                 # Its own name and address: stale, never a forwarding target.
                 [b"host", b"h1", b"worker", b"1", b"addr", self.c.worker_addr(n).encode(), b"epoch", b"1",
                  b"created", b"1", b"last_seen", b"1"],
                 None]  # no hash at all
        for i, fields in enumerate(cases):
            with self.subTest(case=i):
                cookie, key = self.ended_session(n)
                if fields is None:
                    resp(self.c, "SET", key, deep(1000))
                else:
                    resp(self.c, "HSET", key, *fields)
                resp(self.c, "PEXPIRE", key, 60000)
                for k in (n, 1 - n):
                    r = raw_fcgi(self.c, k, params("GET", "/t/count", cookie=cookie))
                    self.assertEqual((r.status, json.loads(r.body)["n"]), (200, 1), r.body[:300])
        self.check("session entries", refused=("registry.bad_session",))

    def test_64_ticket_hashes_and_queue_items(self):
        base = PREFIX + "wf:demo:"
        ids = ["%08x-0000-4000-8000-%012x" % (0xbad, i) for i in range(6)]
        hashes = [[b"payload.key", b"\xff", b"status.current", b"enqueued"],
                  [b"payload.key", b"k", b"payload.data", deep(), b"status.current", b"\xff"],
                  [b"\xff\xfe", b"x", b"payload.key", b"k", b"runs", b"many", b"steps", b"99999999999999999999"],
                  [b"payload.key", b"k", b"steps", b"1", b"step.0.data", deep(), b"step.0.name", b"\xff"],
                  None,  # not a hash
                  [b"payload.key", b"\xc0\xaf", b"payload.data", b"{\xff", b"status.current", b"running"]]
        for tid, fields in zip(ids, hashes):
            resp(self.c, "HSET", base + "ticket:" + tid, *fields) if fields else \
                resp(self.c, "SET", base + "ticket:" + tid, "not a hash")
        for tid in ids:
            for n in range(2):
                r = raw_fcgi(self.c, n, params("GET", "/api/workflow/demo/ticket/" + tid))
                self.answered(r, tid, allowed=(200, 500))  # 500: the hash does not decode (ticket.bad_hash)
                json.loads(r.body.decode())  # always valid UTF-8 JSON
        garbage = [b"\xff\x00", b"x" * 100000, deep(1000), b""]
        resp(self.c, "LPUSH", base + "queue:incoming", *(garbage + [x.encode() for x in ids[:5]]))
        # In processing with no lease, as if its runner died: the keeper requeues it, a runner fails it.
        resp(self.c, "LPUSH", base + "queue:processing", *(garbage + [ids[5].encode()]))
        for q in ("incoming", "processing"):
            wait_until(lambda: resp(self.c, "LLEN", base + "queue:" + q) == b":0", 30, "the poison %s drained" % q)
        for tid in ids[:4] + ids[5:]:  # a poison ticket ends failed, never back in a queue
            self.assertEqual(resp(self.c, "HGET", base + "ticket:" + tid, "status.current"), b"failed", tid)
        self.check("tickets", refused=("ticket.bad_hash", "ticket.bad_queue_item"))

    # ---- last: a note with 0xFF, then its worker drains (changes that worker's pid)
    def test_99_note_with_invalid_utf8_survives_a_drain(self):
        cl = Client(self.c.port)
        self.addCleanup(cl.close)
        self.assertEqual(cl.request("/notes", "POST", b"text=%FF", {"Content-Type": FORM.decode()})[0], 303)
        first = cl.json("/api/notes")
        self.assertEqual([x["text"] for x in first["notes"]], ["\ufffd"])
        n = int(first["owner"][-1])
        old = self.pids[n]
        code, out, err = tetherctl(self.c, "drain", first["owner"], "--wait-ms", "20000")
        self.assertEqual(code, 0, out + err)

        def back():
            try:
                return self.c.worker_pid(n) not in (0, old) and can_connect(self.c.worker_addr(n))
            except (ValueError, OSError):
                return False
        wait_until(back, 30, "worker %d restarted by supervisord after its drain" % n)
        self.assertEqual(self.exits(), ["exited: tether_%d (exit status 0; expected)" % n], "a clean exit, no crash")
        self.expected_exits.extend(self.exits())
        self.pids[n] = self.c.worker_pid(n)
        log = self.c.log(n)
        tail = log[log.rindex('"event":"drain_requested"'):]
        stopped = [json.loads(line) for line in tail.splitlines() if '"event":"stopped"' in line]
        self.assertEqual(len(stopped), 1, "the drain completed:\n" + tail[-3000:])
        self.assertGreaterEqual(stopped[0]["sessions_moved"], 1, tail[-3000:])
        after = cl.json("/api/notes")
        self.assertEqual((after["session"], after["owner"]), (first["session"], "h1-%d" % (1 - n)))
        self.assertEqual([x["text"] for x in after["notes"]], ["\ufffd"], "handed over, U+FFFD for the byte")
        wait_until(lambda: all(self.known(k) == 2 for k in range(2)), 20, "both workers in each directory again")
        self.before[n] = worker_status(self.c, n)["errors"]  # a new process: its counts start again
        self.check("a note with 0xFF and a drain")


if __name__ == "__main__":
    unittest.main()
