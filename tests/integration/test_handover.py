"""Graceful drain with hand-over: a rolling restart of every worker under
supervisord, one at a time, while a bounded client loop runs; every
session's counter survives and no request gets a 5xx. And `tetherctl drain`."""
import json
import threading
import time
import unittest

from common import Client, Cluster, CounterLoad, can_connect, pid_of, tetherctl, wait_until, worker_status

SESSIONS = 12


def all_see(c, n):
    """Every worker's directory lists n live workers that accept sessions."""
    try:
        return all(worker_status(c, k)["redis"]["workers_known"] == n for k in range(c.n))
    except (OSError, EOFError, ValueError, KeyError):
        return False


class RollingRestartTest(unittest.TestCase):
    def test_rolling_restart_keeps_every_session(self):
        cfg = {"heartbeat_ms": 200, "drain_timeout_s": 10, "quick_timeout_ms": 1000}
        with Cluster(workers=3, supervisord=True, config=cfg) as c:
            wait_until(lambda: all_see(c, 3), 15, "3 workers in every directory")
            load = CounterLoad(c.port, SESSIONS)
            self.addCleanup(load.close)
            with load:
                for n in range(3):
                    old = c.worker_pid(n)
                    before = load.served
                    r = c.supervisorctl("restart", "tether:tether_%d" % n)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                    wait_until(lambda: pid_of(c, n) not in (0, old) and can_connect(c.worker_addr(n)), 30,
                               "worker %d back" % n)
                    wait_until(lambda: all_see(c, 3), 15, "worker %d in every directory" % n)
                    wait_until(lambda: load.served > before + SESSIONS, 30, "requests served after restart %d" % n)
            self.assertEqual(load.failures[:5], [], "%d failures" % len(load.failures))
            self.assertGreater(load.served, 3 * SESSIONS)
            load.assert_every_session_kept(self)
            logs = "".join(c.log(n) for n in range(3))
            moved = sum(json.loads(l)["moved"] for l in logs.splitlines() if '"sessions_handed_over"' in l)
            self.assertGreaterEqual(moved, SESSIONS)  # each worker handed its sessions on
            print("rolling restart: %d requests served, %d session moves" % (load.served, moved))


class DrainCommandTest(unittest.TestCase):
    def test_tetherctl_drain_moves_the_sessions_and_stops_the_worker(self):
        with Cluster(workers=2, config={"heartbeat_ms": 200}) as c:
            wait_until(lambda: all_see(c, 2), 15, "2 workers in every directory")
            cl = Client(c.port)
            self.addCleanup(cl.close)
            while cl.json("/t/count")["owner"] != "h1-1":
                cl.cookie = None
            self.assertEqual(cl.json("/t/count")["n"], 2)
            code, out, err = tetherctl(c, "drain", "h1-1", "--wait-ms", "15000")
            self.assertEqual(code, 0, err)
            self.assertIn("drained h1-1", out)
            self.assertEqual(c.workers[1].wait(30), 0)
            del c.workers[1]
            r = cl.json("/t/count")
            self.assertEqual((r["n"], r["owner"], r["reason"]), (3, "h1-0", "new"))
            self.assertIn('"event":"drain_requested"', c.log(1))
            code, _, err = tetherctl(c, "drain", "h1-7")
            self.assertEqual(code, 1)
            self.assertIn("no live worker h1-7", err)
            code, _, err = tetherctl(c, "drain", "nonsense")
            self.assertEqual(code, 2)
            self.assertIn("HOST-N", err)


if __name__ == "__main__":
    unittest.main()
