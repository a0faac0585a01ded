"""Recovery by the restarted worker itself (issue 18, item 2): supervisord
restarts a worker killed with SIGKILL under the same host and worker id, so
nginx keeps sending its sessions' cookies to it. The new run finds the
registry entry naming its own id at an epoch it does not hold: its previous
run's. A checkpointing session comes back `recovered` there, under the same
id, at the next epoch, with its counter as of its last checkpoint; a session
of an app without checkpoints starts anew; a session the new run ended
itself is not brought back.

Found by the kill -9 bench row (scripts/bench/recovery_bench.py): with the
worker restarted, 94% of its sessions came back as new ones (reason
`expired`) because the new run never read their checkpoints."""
import json
import os
import signal
import unittest

from common import Client, Cluster, redis_cli, wait_until, worker_status
from cluster import default_routes

EVERY_MS = 200
OWNER = "h1-0"


def routes():
    """The test kit checkpoints every 200 ms; the notes pad not at all."""
    out = []
    for r in default_routes():
        r = {k: v for k, v in r.items() if k != "checkpoint"}
        if r.get("session") == "testkit":
            r["checkpoint"] = {"every_ms": EVERY_MS}
        out.append(r)
    return out


class RestartRecoveryTest(unittest.TestCase):
    def session_on(self, c, path, end):
        cl = Client(c.port)
        self.addCleanup(cl.close)
        for _ in range(100):
            cl.cookie = None
            if cl.json(path)["owner"] == OWNER:
                return cl
            cl.request(*end)
        self.fail("no session landed on " + OWNER)

    def saved(self, c, answer):
        """The session's checkpoint record holds the counter of answer."""
        keys = [k for k in redis_cli(c, "--scan", "--pattern", "tether:state:%s*" % answer["session"]).split() if k]
        if len(keys) != 1:
            return False
        record = json.loads(redis_cli(c, "GET", keys[0]))
        return record["state"]["n"] == answer["n"] and record["epoch"] == answer["epoch"]

    def test_a_worker_restarted_by_supervisord_recovers_its_previous_runs_sessions(self):
        c = Cluster(workers=2, routes=routes(), supervisord=True,
                    config={"heartbeat_ms": 300, "quick_timeout_ms": 500, "idle_timeout_s": 600}).start()
        self.addCleanup(c.stop)
        kits = [self.session_on(c, "/t/count", ("/t/end",)) for _ in range(3)]
        ended = self.session_on(c, "/t/count", ("/t/end",))
        notes = self.session_on(c, "/api/notes", ("/logout", "POST"))
        notes_sid = notes.json("/api/notes")["session"]
        last = [[k.json("/t/count") for _ in range(3)][-1] for k in kits]
        ended_sid = ended.json("/t/count")["session"]
        wait_until(lambda: all(self.saved(c, a) for a in last), 10, "each session's last counter to be checkpointed")
        ended_cookie = ended.cookie
        status, _, _ = ended.request("/t/end")
        self.assertEqual(status, 200)
        wait_until(lambda: not redis_cli(c, "--scan", "--pattern", "tether:session:%s*" % ended_sid).split(), 10,
                   "the ended session's entry to go")

        old = c.worker_pid(0)
        os.kill(old, signal.SIGKILL)

        def restarted():
            try:
                return c.worker_pid(0) not in (0, old) and worker_status(c, 0)["sessions"]["live"] == 0
            except Exception:  # supervisorctl or the status socket while it starts
                return False
        wait_until(restarted, 30, "supervisord to restart worker 0")

        for k, before in zip(kits, last):
            got = k.json("/t/count")
            self.assertEqual(got["owner"], OWNER, got)  # the restarted worker itself
            self.assertEqual(got["session"], before["session"], got)
            self.assertEqual(got["reason"], "recovered", got)
            self.assertEqual(got["epoch"], before["epoch"] + 1, got)
            self.assertEqual(got["n"], before["n"] + 1, got)  # nothing lost: the last step was checkpointed
            again = k.json("/t/count")
            self.assertEqual((again["session"], again["epoch"], again["n"]), (got["session"], got["epoch"], got["n"] + 1))
        self.assertEqual(worker_status(c, 0)["sessions"]["recovered"], len(kits))

        # No checkpoint: a new session.
        self.assertNotEqual(notes.json("/api/notes")["session"], notes_sid)
        # Ended before the kill (entry and record deleted): not brought back.
        ended.cookie = ended_cookie
        again = ended.json("/t/count")
        self.assertNotEqual(again["session"], ended_sid, again)
        self.assertEqual(again["n"], 1, again)
        self.assertEqual(worker_status(c, 0)["sessions"]["recovered"], len(kits))


if __name__ == "__main__":
    unittest.main()
