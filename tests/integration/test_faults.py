"""Faults under load: a worker killed with SIGKILL, a worker stopped
(SIGSTOP) past the quick timeout and the heartbeat and then resumed, and
Redis paused. Every load loop is bounded in count and time; each test
counts what the clients lost (the goal: nothing but sessions on a dead
worker, which come back as `lost`).

Covered elsewhere, not repeated here: redis-server killed and restarted
under traffic (test_registry.test_redis_restart_under_traffic), a network
partition between two hosts in network namespaces
(test_multihost.NetnsHostsTest.test_forward_across_hosts_then_partition),
one request to a stopped owner (test_registry
.test_stopped_owner_means_a_new_session_within_the_quick_timeout)."""
import json
import os
import signal
import threading
import time
import unittest

import fcgi
from common import (Client, Cluster, default_routes, redis_cli, session_keys, stopped_all, wait_until,
                    without_checkpoints, worker_status)

CONFIG = {"heartbeat_ms": 300, "quick_timeout_ms": 500}


def entries(c):
    """session id -> (worker, epoch) for every registry entry."""
    out = {}
    for k in session_keys(c):
        fields = redis_cli(c, "HGETALL", k).split()
        got = dict(zip(fields[::2], fields[1::2]))
        if "worker" in got:
            out[k.split(":")[-1]] = (int(got["worker"]), got.get("epoch"))
    return out


def live_sessions(c):
    return sum(worker_status(c, n)["sessions"]["live"] for n in c.workers)


class Load:
    """clients each make `rounds` requests of /t/count through nginx, in
    their own threads; every reply is recorded (status, body). With
    after=k a client also goes on until it has made k requests after
    mark() (a fault injected), at most `rounds` more, so every client is
    seen on both sides of the fault however the threads were scheduled."""

    def __init__(self, clients, rounds, after=0):
        self.clients, self.rounds, self.after = clients, rounds, after
        self.replies = [[] for _ in clients]
        self.marked_at = None
        self.count = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(len(clients))]

    def satisfied(self, i):
        if not self.after:
            return True
        with self.lock:
            return self.marked_at is not None and len(self.replies[i]) - self.marked_at[i] >= self.after

    def run(self, i):
        for n in range(self.rounds * (2 if self.after else 1)):
            if n >= self.rounds and self.satisfied(i):
                break
            try:
                status, _, data = self.clients[i].request("/t/count")
                body = json.loads(data) if status == 200 else {}
            except (OSError, ValueError) as e:
                status, body = repr(e), {}
            with self.lock:
                self.replies[i].append((status, body))
                self.count += 1

    def fewest(self):
        with self.lock:
            return min(len(rs) for rs in self.replies)

    def mark(self):
        with self.lock:
            self.marked_at = [len(rs) for rs in self.replies]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)

    def failures(self):
        return [(i, s) for i, rs in enumerate(self.replies) for s, _ in rs if s != 200]


class FaultTest(unittest.TestCase):
    def cluster(self, **config):
        cfg = dict(CONFIG)
        cfg.update(config)
        # Without checkpoints: these tests expect a dead or silent owner's sessions `lost`; with them a
        # session older than one interval (the first checkpoint) comes back `recovered` (test_recovery).
        c = Cluster(workers=3, config=cfg, routes=without_checkpoints(default_routes())).start()
        self.addCleanup(c.stop)
        wait_until(lambda: all(worker_status(c, n)["redis"]["workers_known"] == 3 for n in range(3)), 10,
                   "every worker to see the other two")
        return c

    def clients_on(self, c, owners):
        """One client per entry of owners (a route), each with a session there."""
        out = []
        for owner in owners:
            cl = Client(c.port)
            self.addCleanup(cl.close)
            for _ in range(100):
                cl.cookie = None
                if cl.json("/t/count")["owner"] == owner:
                    break
                cl.request("/t/end")  # not there: end it, so live sessions stay countable
            else:
                self.fail("no session landed on " + owner)
            out.append(cl)
        return out

    def assert_sessions_continue(self, load, dead=None):
        """Every client's count goes up by one per request; a session changes
        only if its owner was `dead`, and then the new one starts `lost`."""
        lost = 0
        for i, rs in enumerate(load.replies):
            prev = None
            for status, body in rs:
                if prev is not None and body["session"] != prev["session"]:
                    self.assertEqual((prev["owner"], body["reason"], body["n"]), (dead, "lost", 1), (i, rs))
                    lost += 1
                elif prev is not None:
                    self.assertEqual(body["n"], prev["n"] + 1, (i, rs))
                prev = body
        return lost

    def test_kill_9_a_worker_under_load(self):
        c = self.cluster(idle_timeout_s=4)
        clients = self.clients_on(c, ["h1-0", "h1-1", "h1-2"] * 4)
        # Killed while every client is under way; each goes on for 10 requests after the kill.
        load = Load(clients, 40, after=10).start()
        wait_until(lambda: load.fewest() >= 3, 30, "every client to be under way")
        os.kill(c.workers[1].pid, signal.SIGKILL)
        c.workers[1].wait(10)
        load.mark()
        del c.workers[1]
        self.assertTrue(load.join(120), "load still running after 2 minutes")
        # nginx sent each request for the dead worker to a live one: no error reached a client.
        self.assertEqual(load.failures(), [])
        # Exactly the four sessions on h1-1 were lost, each once; the others never noticed.
        self.assertEqual(self.assert_sessions_continue(load, dead="h1-1"), 4,
                         [(rs[0][1]["owner"], rs[-1][1]["owner"], len(rs), m) for rs, m in zip(load.replies,
                                                                                 load.marked_at)])
        # The live workers' entries are exactly their sessions (the four lost ones made again)...
        wait_until(lambda: len([w for w, _ in entries(c).values() if w != 1]) == live_sessions(c) == 12, 10,
                   "registry == live sessions")
        # ... and the dead worker's expire (idle timeout + grace).
        wait_until(lambda: all(w != 1 for w, _ in entries(c).values()), 30, "the dead worker's entries to go")

    @staticmethod
    def resume(pid):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    def test_sigstop_past_the_timeouts_then_sigcont_leaves_one_owner(self):
        c = self.cluster(idle_timeout_s=600)
        stopped = self.clients_on(c, ["h1-1"] * 3)
        others = self.clients_on(c, ["h1-0", "h1-2"] * 2)
        before = {cl.cookie: cl.json("/t/peek") for cl in stopped}
        pid = c.workers[1].pid
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(self.resume, pid)
        wait_until(lambda: stopped_all(pid), 10, "every thread of worker 1 to stop")
        load = Load(others, 30).start()
        # One client of the stopped owner goes through nginx: its request waits for the owner.
        waiting = Load(stopped[:1], 1).start()
        # The others enter worker 0 straight: the owner is lost, a new session is made there.
        moved = {}
        for cl in stopped[1:]:
            r = fcgi.get(c.worker_addr(0), "/t/count", cookie="tether_sid=" + cl.cookie)
            body = json.loads(r.body)
            self.assertEqual((r.status, body["reason"], body["owner"]), (200, "lost", "h1-0"))
            moved[cl.cookie] = [v for v in r.header("Set-Cookie") if v.startswith("tether_sid=")][0].split(";")[0]
        # Stopped past three heartbeats: the others drop it from their directory.
        wait_until(lambda: worker_status(c, 0)["redis"]["workers_known"] == 2, 15, "worker 1 to drop out")
        self.assertTrue(load.join(60))
        os.kill(pid, signal.SIGCONT)
        wait_until(lambda: all(worker_status(c, n)["redis"]["workers_known"] == 3 for n in range(3)), 15,
                   "worker 1 back in every directory")
        self.assertTrue(waiting.join(60))
        self.assertEqual(load.failures() + waiting.failures(), [])
        self.assertEqual(self.assert_sessions_continue(load), 0)
        # The waiting request was served by its owner once it resumed, in the same session.
        w = waiting.replies[0][0][1]
        first = before[stopped[0].cookie]
        self.assertEqual((w["owner"], w["session"], w["n"]), ("h1-1", first["session"], first["n"] + 1))
        # No two owners: each old session is still h1-1's alone (epoch unchanged), each new one h1-0's.
        reg = entries(c)
        for cl in stopped[1:]:
            old = cl.json("/t/peek")  # through nginx, to the old owner
            self.assertEqual((old["owner"], old["session"], old["n"]), ("h1-1", before[cl.cookie]["session"],
                                                                         before[cl.cookie]["n"]))
            new = Client(c.port, cookie=moved[cl.cookie][len("tether_sid="):])
            self.addCleanup(new.close)
            now = new.json("/t/count")
            self.assertEqual((now["owner"], now["n"]), ("h1-0", 2))
            [old_sid] = [s for s in reg if s.startswith(old["session"])]
            [new_sid] = [s for s in reg if s.startswith(now["session"])]
            self.assertEqual(reg[old_sid], (1, "1"))
            self.assertEqual(reg[new_sid], (0, "1"))
        self.assertEqual(sum(worker_status(c, n)["redis"]["lost_ownership"] for n in range(3)), 0)
        # The two requests worker 0 gave up on were still queued at worker 1
        # (a new peer connection whose handshake it never finished, or a
        # request on a kept one, which the gate abandons): not run there too,
        # as the counts read through /t/peek above show.
        st = worker_status(c, 1)["peer"]
        self.assertLessEqual(st["abandoned"], 2)
        wait_until(lambda: len(entries(c)) == live_sessions(c), 15, "registry == live sessions")

    def test_redis_paused_requests_do_not_wait_for_it(self):
        c = self.cluster(idle_timeout_s=600)
        clients = self.clients_on(c, ["h1-0", "h1-1", "h1-2"] * 2)
        threads_before = [worker_status(c, n)["acceptor_threads"]["running"] for n in range(3)]
        # Every Redis command (the registry's, the heartbeat's) waits 12 s.
        self.assertIn("OK", redis_cli(c, "CLIENT", "PAUSE", "12000", "ALL"))
        fresh = [Client(c.port) for _ in range(6)]
        for cl in fresh:
            self.addCleanup(cl.close)
        load = Load(clients + fresh, 10).start()
        # Bounded well inside the pause: requests never wait on Redis.
        self.assertTrue(load.join(10), "requests waited for a paused Redis")
        self.assertEqual(load.failures(), [])
        self.assertEqual(self.assert_sessions_continue(load), 0)
        self.assertEqual([rs[0][1]["reason"] for rs in load.replies[6:]], ["new"] * 6)
        for n in range(3):
            s = worker_status(c, n)
            self.assertEqual(s["requests"]["in_flight"], 1, "only this status request")
            self.assertLessEqual(s["acceptor_threads"]["running"], threads_before[n] + 8, "no pile-up of threads")
        # When Redis answers again, every session made meanwhile is registered; nothing stays queued.
        wait_until(lambda: redis_cli(c, "PING").strip() == "PONG", 30, "the pause to end")
        wait_until(lambda: len(entries(c)) == live_sessions(c) == 12, 20, "all 12 sessions registered")
        wait_until(lambda: all(worker_status(c, n)["redis"]["pending"] == 0 for n in range(3)), 10, "queues empty")


if __name__ == "__main__":
    unittest.main()
