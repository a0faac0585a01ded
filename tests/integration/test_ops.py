"""Operating tether: the status rule in its three formats and scopes, counted
under a known load, refused (403) to other addresses; /tether/ping; the slow
log."""
import json
import re
import time
import unittest

import fcgi
from common import Client, Cluster, wait_until, worker_status

N = 25


def status(addr, query="", remote="127.0.0.1"):
    params = fcgi.http_params(path="/tether/status", query=query)
    params["REMOTE_ADDR"] = remote
    c = fcgi.Connection(addr)
    try:
        c.sock.sendall(fcgi.request_bytes(params))
        return fcgi.read_reply(c.sock)
    finally:
        c.close()


def prometheus(text):
    """{(name, labels): value}; checks every line is HELP, TYPE or a sample."""
    out, typed = {}, {}
    for line in text.splitlines():
        m = re.match(r"^# (HELP|TYPE) (tether_[a-z0-9_]+) (.+)$", line)
        if m:
            if m.group(1) == "TYPE":
                typed[m.group(2)] = m.group(3)
            continue
        m = re.match(r'^(tether_[a-z0-9_]+)\{((?:[a-z_]+="[^"]*",?)*)\} (-?[0-9.e+]+)$', line)
        assert m, "not Prometheus text: %r" % line
        assert m.group(1) in typed, "sample before its TYPE: %r" % line
        out[(m.group(1), m.group(2))] = float(m.group(3))
    return out, typed


class StatusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        routes = [{"match": "^/tether/status$", "status": {"allow": ["10.9.9.9"]}},
                  {"match": "^/tether/ping$", "ping": {}},
                  {"match": "^/hello$", "controller": "hello"},
                  {"match": "^/t/", "session": "testkit"}]
        cls.c = Cluster(workers=2, routes=routes, config={"heartbeat_ms": 200}).start()

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def test_counters_move_by_exactly_n_in_json_and_prometheus(self):
        addr = self.c.worker_addr(0)
        before = json.loads(status(addr).body)
        prom_before, _ = prometheus(status(addr, "format=prometheus").body.decode())
        conn = fcgi.Connection(addr)
        cookie = None
        for _ in range(N):
            r = conn.request(path="/t/count", cookie=cookie)
            self.assertEqual(r.status, 200)
            for v in r.header("Set-Cookie"):
                cookie = v.split(";")[0]
        conn.close()
        after = json.loads(status(addr).body)
        prom_after, types = prometheus(status(addr, "format=prometheus").body.decode())
        w0 = 'host="h1",worker="0"'
        # JSON: N requests plus the two status requests between the readings.
        self.assertEqual(after["requests"]["accepted"] - before["requests"]["accepted"], N + 2)
        self.assertEqual(after["sessions"]["requests"] - before["sessions"]["requests"], N)
        self.assertEqual(after["sessions"]["created"] - before["sessions"]["created"], 1)
        self.assertEqual(after["sessions"]["live"] - before["sessions"]["live"], 1)
        # Prometheus: the same movement, and the same values as JSON.
        acc = "tether_requests_accepted_total"
        self.assertEqual(prom_after[(acc, w0)] - prom_before[(acc, w0)], N + 2)
        self.assertEqual(prom_after[("tether_session_requests_total", w0)] -
                         prom_before[("tether_session_requests_total", w0)], N)
        self.assertEqual(prom_after[(acc, w0)], after["requests"]["accepted"] + 1)
        self.assertEqual(prom_after[("tether_sessions_live", w0)], after["sessions"]["live"])
        self.assertEqual(types[acc], "counter")
        self.assertEqual(types["tether_sessions_live"], "gauge")
        self.assertIn(("tether_sessions_ended_total", w0 + ',reason="drained"'), prom_after)

    def test_text_format_is_name_value_lines(self):
        r = status(self.c.worker_addr(1), "format=text")
        self.assertEqual(r.status, 200)
        lines = r.body.decode().splitlines()
        self.assertIn("worker: 1", lines)
        self.assertTrue(any(re.match(r"^requests accepted: \d+$", l) for l in lines), lines)
        for line in lines:
            self.assertRegex(line, r"^[a-z0-9 ]+: ")

    def test_other_addresses_get_403_and_the_allow_list_gets_in(self):
        addr = self.c.worker_addr(0)
        for q in ("", "format=prometheus", "scope=host"):
            self.assertEqual(status(addr, q, remote="10.1.2.3").status, 403)
        self.assertEqual(status(addr, remote="10.9.9.9").status, 200)

    def test_bad_format_or_scope_is_400_with_the_reason(self):
        r = status(self.c.worker_addr(0), "format=xml")
        self.assertEqual(r.status, 400)
        self.assertIn(b"json, text or prometheus", r.body)
        r = status(self.c.worker_addr(0), "scope=galaxy")
        self.assertEqual(r.status, 400)
        self.assertIn(b"worker, host or all", r.body)

    def test_host_scope_reads_every_worker_from_redis(self):
        for n in range(2):
            fcgi.get(self.c.worker_addr(n), "/t/count")
        # Each worker writes its figures with its heartbeat.
        def both_have_figures():
            j = json.loads(status(self.c.worker_addr(0), "scope=host").body)
            return [w["worker"] for w in j["workers"]] == [0, 1] and all("requests" in w for w in j["workers"])
        wait_until(both_have_figures, 10, "both workers' figures in Redis")
        j = json.loads(status(self.c.worker_addr(0), "scope=host").body)
        self.assertEqual(j["scope"], "host")
        self.assertEqual(j["total"]["workers"], 2)
        self.assertEqual(j["total"]["sessions"]["live"], sum(w["sessions"]["live"] for w in j["workers"]))
        prom, _ = prometheus(status(self.c.worker_addr(1), "scope=host&format=prometheus").body.decode())
        for n in range(2):
            self.assertIn(("tether_sessions_live", 'host="h1",worker="%d"' % n), prom)

    def test_tetherctl_status_shows_every_worker(self):
        from common import tetherctl
        wait_until(lambda: '"h1-1"' in json.dumps([w["host"] + "-" + str(w["worker"]) for w in
                                                    json.loads(tetherctl(self.c, "--json", "status")[1])["workers"]]),
                   10, "both workers in tetherctl status")
        code, out, err = tetherctl(self.c, "--json", "status")
        self.assertEqual(code, 0, err)
        j = json.loads(out)
        self.assertEqual(j["total"]["workers"], 2)
        self.assertEqual(j["total"]["sessions"]["live"], sum(w["sessions"]["live"] for w in j["workers"]))
        code, out, err = tetherctl(self.c, "status")
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"(?m)^WORKER +PID")
        self.assertRegex(out, r"(?m)^h1-0 ")
        self.assertRegex(out, r"(?m)^h1-1 ")
        code, out, _ = tetherctl(self.c, "--help")
        for cmd in ("status", "drain WORKER", "sessions", "session SID", "workers", "kill SID", "invalidate", "push-file"):
            self.assertIn("  " + cmd, out)

    def test_ping_answers_pong_to_anyone(self):
        params = fcgi.http_params(path="/tether/ping")
        params["REMOTE_ADDR"] = "10.1.2.3"
        c = fcgi.Connection(self.c.worker_addr(0))
        c.sock.sendall(fcgi.request_bytes(params))
        r = fcgi.read_reply(c.sock)
        c.close()
        self.assertEqual((r.status, r.body), (200, b"pong\n"))
        self.assertEqual(Client(self.c.port).request("/tether/ping")[2], b"pong\n")


class SlowLogTest(unittest.TestCase):
    def test_a_slow_request_is_logged_once_with_its_stages(self):
        with Cluster(workers=1, config={"slow_request_ms": 150}) as c:
            cl = Client(c.port)
            self.assertEqual(cl.request("/t/count")[0], 200)
            cookie = cl.cookie
            self.assertEqual(cl.request("/t/slow?ms=300")[0], 200)
            self.assertEqual(cl.request("/t/peek")[0], 200)
            cl.close()
            wait_until(lambda: '"slow_request"' in c.log(0), 10, "the slow_request line")
            lines = [json.loads(l) for l in c.log(0).splitlines() if '"slow_request"' in l]
            self.assertEqual(len(lines), 1, lines)
            e = lines[0]
            self.assertEqual(e["path"], "/t/slow")
            self.assertEqual(e["route"], "^/t/")
            self.assertEqual(e["owner"], "h1-0")
            self.assertRegex(e["session"], r"^[0-9a-f]{16}$")
            self.assertNotIn(cookie, json.dumps(e))  # never the token
            self.assertGreaterEqual(e["session_ms"], 300)  # the handler slept there
            for k in ("queue_ms", "forward_ms", "total_ms"):
                self.assertIn(k, e)
            self.assertEqual(worker_status(c, 0)["requests"]["slow"], 1)


if __name__ == "__main__":
    unittest.main()
