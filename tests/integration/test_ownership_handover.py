"""Hand-over bounded on both sides (issue 16, item 1): a drain whose
receiver cannot adopt before the sender's deadline (its session threads
busy) leaves one owner. The sender gets no answer in time, fences the
registry entry and keeps the session (it ends drained there); the receiver
gives up at the same deadline and adopts nothing, rather than bringing back
later a session whose app was told it ended."""
import threading
import unittest

from common import Client, Cluster, redis_cli, session_keys, tetherctl, wait_until, worker_status

BUSY_MS = 6000  # the receiver's session threads are held this long (> request_timeout_s)


def client_on(c, owner, tries=200):
    cl = Client(c.port)
    for _ in range(tries):  # bounded: nginx spreads new sessions over the workers
        if cl.json("/t/count")["owner"] == owner:
            return cl
        cl.request("/t/end")  # no other session stays behind to move
        cl.cookie = None
    raise AssertionError("no session on " + owner)


class LateReceiverTest(unittest.TestCase):
    def test_a_receiver_past_the_senders_deadline_adopts_nothing(self):
        cfg = {"heartbeat_ms": 200, "request_timeout_s": 2}
        with Cluster(workers=2, config=cfg) as c:
            wait_until(lambda: all(worker_status(c, k)["redis"]["workers_known"] == 2 for k in range(2)), 20,
                       "2 workers in every directory")
            # Sessions to hold every session thread of worker 0 (8 over its 2 threads).
            busy = [client_on(c, "h1-0") for _ in range(8)]
            for cl in busy:
                self.addCleanup(cl.close)
            moving = client_on(c, "h1-1")
            self.addCleanup(moving.close)
            mine = [k for k in session_keys(c) if redis_cli(c, "HGET", k, "worker").strip() == "1"]
            self.assertEqual(len(mine), 1, mine)
            key = mine[0]
            before = worker_status(c, 0)["sessions"]
            held = [threading.Thread(target=cl.request, args=("/t/slow?ms=%d" % BUSY_MS,)) for cl in busy]
            for t in held:
                t.start()
            wait_until(lambda: worker_status(c, 0)["sessions"]["requests"] >= before["requests"] + 2, 10,
                       "worker 0's session threads busy")
            code, out, err = tetherctl(c, "drain", "h1-1", "--wait-ms", "20000", timeout=40)
            self.assertEqual(code, 0, out + err)
            self.assertEqual(c.workers[1].wait(30), 0)
            self.assertIn('"event":"handover_refused"', c.log(1))  # no answer in time: it stayed
            for t in held:
                t.join(BUSY_MS / 1000 + 20)
            # Worker 0's threads are free again: whatever it adopted late would be live by now.
            wait_until(lambda: '"event":"handover_too_late"' in c.log(0) or
                       worker_status(c, 0)["sessions"]["moved_in"] > before["moved_in"], 20,
                       "worker 0 to settle the late hand-over")
            after = worker_status(c, 0)["sessions"]
            self.assertEqual(after["moved_in"], before["moved_in"], "a late adopt was kept")
            self.assertEqual(after["live"], before["live"])
            # The entry never names the late receiver.
            self.assertNotEqual(redis_cli(c, "HGET", key, "worker").strip(), "0")


if __name__ == "__main__":
    unittest.main()
