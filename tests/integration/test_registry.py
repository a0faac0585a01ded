"""The Redis registry and forwarding, with real redis-server, nginx and
workers: forwarding under nginx round-robin, entries that appear and vanish
with their sessions (end, idle, kill, drain, kill -9), Redis restarted under
traffic, forged forwarding proofs, placement on a front-only worker, the
quick timeout for a stopped owner, and tetherctl."""
import concurrent.futures
import json
import os
import signal
import subprocess
import time
import unittest

import fcgi
from common import (Client, Cluster, free_port, passthrough_server, redis_cli, session_keys, stopped_all, tetherctl,
                    wait_until, worker_status)


def wait_directories(cluster, n):
    """Until every worker's directory lists n live workers."""
    wait_until(lambda: all(worker_status(cluster, w)["redis"]["workers_known"] == n for w in cluster.workers), 15,
               "every worker to know %d workers" % n)


class ForwardingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rr_port = free_port()
        cls.cluster = Cluster(workers=4, nginx_http_extra=passthrough_server(cls.rr_port)).start()
        wait_directories(cls.cluster, 4)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def test_100_sessions_over_4_workers_through_round_robin(self):
        clients = [Client(self.rr_port) for _ in range(100)]
        rounds = 6
        seen = {i: [] for i in range(100)}
        with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
            for _ in range(rounds):
                for i, r in enumerate(pool.map(lambda c: c.json("/t/count"), clients)):
                    seen[i].append(r)
        for c in clients:
            c.close()
        owners = set()
        for i, rs in seen.items():
            self.assertEqual([r["n"] for r in rs], list(range(1, rounds + 1)), "session %d: %s" % (i, rs))
            self.assertEqual(len({(r["owner"], r["session"]) for r in rs}), 1)
            owners.add(rs[0]["owner"])
        self.assertEqual(len(owners), 4)
        forwarded = sum(worker_status(self.cluster, n)["forward"]["out"] for n in range(4))
        self.assertGreater(forwarded, 100, "round-robin should make most requests enter a non-owner")

    def test_forwarded_request_keeps_method_long_uri_headers_and_body(self):
        c = Client(self.cluster.port)
        self.addCleanup(c.close)
        owner = c.json("/t/count")["owner"]
        other = next(n for n in range(4) if "h1-%d" % n != owner)
        body = bytes(range(256)) * 40
        # URIs of every size class: short, mid-length, long.
        for query in ("a=1", "q=" + "x" * 40 + "&b=%20y", "q=" + "x" * 3000):
            reply = fcgi.get(self.cluster.worker_addr(other), "/t/echo", method="POST", query=query, body=body,
                             cookie="tether_sid=" + c.cookie, headers={"Content-Type": "application/x-test"})
            self.assertEqual(reply.status, 200, reply.body[:200])
            echo = json.loads(reply.body)
            self.assertEqual((echo["method"], echo["query"], echo["content_type"]),
                             ("POST", query, "application/x-test"))
            self.assertEqual((echo["len"], echo["sum"]), (len(body), sum(body)))
        self.assertEqual(c.json("/t/peek")["requests"], 5)  # served by the owner, in its session

    def test_entry_appears_with_its_owner_and_vanishes_when_the_session_ends(self):
        c = Client(self.cluster.port)
        self.addCleanup(c.close)
        r = c.json("/t/count")
        key = None

        def entry():
            nonlocal key
            for k in session_keys(self.cluster):
                if k.split(":")[-1].startswith(r["session"]):
                    key = k
                    return True
            return False
        wait_until(entry, 10, "the session's registry entry")
        fields = redis_cli(self.cluster, "HGETALL", key).split()
        got = dict(zip(fields[::2], fields[1::2]))
        self.assertEqual("h1-" + got["worker"], r["owner"])
        self.assertEqual(got["epoch"], "1")
        self.assertGreater(int(redis_cli(self.cluster, "PTTL", key)), 0)
        c.request("/t/end")
        wait_until(lambda: redis_cli(self.cluster, "EXISTS", key).strip() == "0", 10, "entry removed after end()")

    def test_peer_params_are_only_the_peer_channels(self):
        # Through nginx, look-alike HTTP headers are just headers: served normally.
        c = Client(self.cluster.port)
        self.addCleanup(c.close)
        status_code, _, body = c.request("/t/count", headers={"Tether-Peer": "h1-0", "X-Tether-Sig": "0" * 64})
        self.assertEqual(status_code, 200)
        self.assertEqual(json.loads(body)["reason"], "new")
        # TETHER_ params straight to nginx's listener say nothing: the request
        # is an ordinary one (reason new, not the "lost" it claims).
        p = fcgi.http_params(path="/t/count")
        p.update({"TETHER_PEER": "h1-1", "TETHER_REASON": "lost", "TETHER_SIG": "0" * 64})
        s = fcgi.connect(self.cluster.worker_addr(0))
        s.sendall(fcgi.request_bytes(p))
        reply = fcgi.read_reply(s)
        s.close()
        self.assertEqual(reply.status, 200)
        self.assertEqual(json.loads(reply.body)["reason"], "new")
        # The peer listener takes nothing but the peer handshake: a FastCGI
        # request with peer params is refused, counted, and nothing runs.
        before = worker_status(self.cluster, 0)["errors"]["refused"].get("peer.bad_hello", 0)
        self.assertTrue(fcgi.refused_by_peer_listener(self.cluster.peer_addr(0), fcgi.request_bytes(p)))
        wait_until(lambda: worker_status(self.cluster, 0)["errors"]["refused"].get("peer.bad_hello", 0) == before + 1,
                   10, "peer.bad_hello counted")

    def test_tetherctl_lists_shows_and_kills(self):
        c = Client(self.cluster.port)
        self.addCleanup(c.close)
        r = c.json("/t/count")
        wait_until(lambda: any(k.split(":")[-1].startswith(r["session"]) for k in session_keys(self.cluster)), 10,
                   "entry")
        rc, out, err = tetherctl(self.cluster, "workers")
        self.assertEqual(rc, 0, err)
        for n in range(4):
            self.assertIn("h1-%d" % n, out)
        # Other tests of this class leave sessions too: past the default
        # --limit 100, which ones are shown is SCAN's order.
        rc, out, err = tetherctl(self.cluster, "sessions", "--limit", "100000")
        self.assertEqual(rc, 0, err)
        self.assertIn(r["session"], out)
        self.assertIn(r["owner"], out)
        rc, out, err = tetherctl(self.cluster, "--json", "session", r["session"])
        self.assertEqual(rc, 0, err)
        entry = json.loads(out)
        self.assertEqual("h1-" + entry["worker"], r["owner"])
        rc, out, err = tetherctl(self.cluster, "kill", r["session"])
        self.assertEqual(rc, 0, err)
        self.assertIn("killed", out)
        after = c.json("/t/count")
        self.assertEqual((after["reason"], after["n"]), ("expired", 1))
        self.assertNotEqual(after["session"], r["session"])
        rc, _, err = tetherctl(self.cluster, "session", "ffffffffffffffff")
        self.assertEqual(rc, 1)
        self.assertIn("no session", err)
        rc, _, err = tetherctl(self.cluster, "session", "not-hex")
        self.assertEqual(rc, 1)


class FailureTest(unittest.TestCase):
    """Short idle timeouts so that entries expire within the test."""

    def cluster(self, **config):
        cfg = {"idle_timeout_s": 2, "heartbeat_ms": 300, "quick_timeout_ms": 500}
        cfg.update(config)
        c = Cluster(workers=3, config=cfg).start()
        self.addCleanup(c.stop)
        wait_directories(c, 3)
        return c

    def owned_by(self, c, owner):
        cl = Client(c.port)
        self.addCleanup(cl.close)
        for _ in range(200):
            cl.cookie = None
            if cl.json("/t/count")["owner"] == owner:
                return cl
        self.fail("no session landed on " + owner)

    def test_idle_timeout_removes_the_entry(self):
        c = self.cluster()
        cl = Client(c.port)
        self.addCleanup(cl.close)
        cl.json("/t/count")
        wait_until(lambda: len(session_keys(c)) == 1, 10, "entry")
        wait_until(lambda: len(session_keys(c)) == 0, 15, "entry gone after the idle timeout")
        self.assertEqual(cl.json("/t/count")["reason"], "expired")

    def test_kill_9_entries_expire_and_requests_get_lost(self):
        c = self.cluster()
        cl = self.owned_by(c, "h1-1")
        wait_until(lambda: len(session_keys(c)) >= 1, 10, "entry")
        os.kill(c.workers[1].pid, signal.SIGKILL)
        c.workers[1].wait(10)
        del c.workers[1]
        r = cl.json("/t/count")  # nginx: owner down -> backup worker -> owner not live
        self.assertEqual(r["reason"], "lost")
        self.assertNotEqual(r["owner"], "h1-1")
        wait_until(lambda: not any(redis_cli(c, "HGET", k, "worker").strip() == "1" for k in session_keys(c)), 20,
                   "the dead worker's entries to expire")
        wait_until(lambda: "h1:1" not in redis_cli(c, "ZRANGEBYSCORE", "tether:workers",
                                                     int(time.time() * 1000) - 900, "+inf"), 10,
                   "the dead worker to drop out of the directory")

    def test_sigterm_drain_removes_its_entries(self):
        c = self.cluster(idle_timeout_s=600)
        self.owned_by(c, "h1-2")
        wait_until(lambda: any(redis_cli(c, "HGET", k, "worker").strip() == "2" for k in session_keys(c)), 10,
                   "entry of worker 2")
        self.assertEqual(c.stop_worker(2), 0)
        self.assertFalse(any(redis_cli(c, "HGET", k, "worker").strip() == "2" for k in session_keys(c)))
        self.assertNotIn("h1:2", redis_cli(c, "ZRANGE", "tether:workers", 0, -1))

    def test_stopped_owner_means_a_new_session_within_the_quick_timeout(self):
        c = self.cluster(idle_timeout_s=600)
        cl = self.owned_by(c, "h1-1")
        pid = c.workers[1].pid
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(os.kill, pid, signal.SIGCONT)
        wait_until(lambda: stopped_all(pid), 10, "every thread of worker 1 to stop")
        try:
            reply = fcgi.get(c.worker_addr(0), "/t/count", cookie="tether_sid=" + cl.cookie)
        except TimeoutError:  # seen twice in full ASan runs, never alone: keep what the workers said
            self.fail("no reply in 10 s; worker 0 log:\n%s\nworker 2 log:\n%s" % (c.log(0)[-3000:], c.log(2)[-1500:]))
        self.assertEqual(reply.status, 200)
        body = json.loads(reply.body)
        self.assertEqual((body["reason"], body["owner"]), ("lost", "h1-0"))
        self.assertEqual(worker_status(c, 0)["forward"]["lost"], 1)
        os.kill(pid, signal.SIGCONT)
        # The old owner still has its session: the client that kept the old cookie is served there.
        self.assertEqual(cl.json("/t/count")["owner"], "h1-1")

    def test_redis_restart_under_traffic(self):
        c = self.cluster(idle_timeout_s=600)
        clients = [Client(c.port) for _ in range(12)]
        for cl in clients:
            self.addCleanup(cl.close)
            cl.json("/t/count")
        wait_until(lambda: len(session_keys(c)) == 12, 10, "12 entries")
        c.redis.kill()
        c.redis.wait(10)
        # Owned sessions keep working from the token and the local table; new ones are made.
        for cl in clients:
            self.assertEqual(cl.json("/t/count")["n"], 2)
        fresh = [Client(c.port) for _ in range(6)]
        for cl in fresh:
            self.addCleanup(cl.close)
            self.assertEqual(cl.json("/t/count")["reason"], "new")
        wait_until(lambda: all(not worker_status(c, n)["redis"]["up"] for n in range(3)), 10, "workers see Redis down")
        c.start_redis()  # same port, empty
        wait_until(lambda: len(session_keys(c)) == 18, 15, "all 18 live sessions registered again")
        for n in range(3):
            log = c.log(n)
            self.assertEqual(log.count('"event":"redis_down"'), 1, log[-3000:])
            self.assertEqual(log.count('"event":"redis_up"'), 1)
        for cl in clients:
            self.assertEqual(cl.json("/t/count")["n"], 3)

    def test_front_only_worker_places_sessions_on_the_others(self):
        c = Cluster(workers=3, config={"heartbeat_ms": 300}, nginx=False)
        c.write_config()
        with open(c.config_path) as f:
            cfg = json.load(f)
        c.start()
        self.addCleanup(c.stop)
        front = dict(cfg, accept_sessions=False, placement="round_robin")
        front_path = os.path.join(c.workdir, "front.json")
        with open(front_path, "w") as f:
            json.dump(front, f)
        c.stop_worker(0)
        log = open(c.log_path(0), "ab")
        c.workers[0] = subprocess.Popen([c.tetherd, "--config", front_path, "--worker", "0"], stdout=log, stderr=log)
        log.close()
        c.wait_worker(0)
        wait_directories(c, 3)
        owners = set()
        for _ in range(8):
            r = fcgi.get(c.worker_addr(0), "/t/count")
            self.assertEqual(r.status, 200)
            owner = json.loads(r.body)["owner"]
            owners.add(owner)
            cookie = [v for v in r.header("Set-Cookie") if v.startswith("tether_sid=")]
            self.assertTrue(cookie and cookie[0].startswith("tether_sid=" + owner + "."))
            again = fcgi.get(c.worker_addr(0), "/t/count", cookie=cookie[0].split(";")[0])
            self.assertEqual(json.loads(again.body)["n"], 2)
        self.assertEqual(owners, {"h1-1", "h1-2"})
        self.assertEqual(worker_status(c, 0)["sessions"]["created"], 0)


if __name__ == "__main__":
    unittest.main()
