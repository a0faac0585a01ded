"""Recovery after a worker dies (issue 18, item 2): a worker holding
checkpointing sessions (the test kit app, rule option "checkpoint":
{"every_ms": 200}) is killed with SIGKILL under a client loop; every such
session comes back `recovered` on another worker, under the same id, at the
next epoch, with its counter as of its last checkpoint (at most one
interval behind); sessions of an app without checkpoints (the notes pad)
come back `lost`. No session is answered by two owners at one epoch, and
epochs only go up (the ownership checker's checks, tests/integration/
ownership_history.py; its counter and start-reason checks do not apply:
a recovered session's counter may step back by up to one interval, and its
reason changes to `recovered` by design).

The client loop is bounded (time and request count) and talks to nginx on
loopback only."""
import json
import os
import signal
import time
import unittest

import fcgi
from common import Client, Cluster, redis_cli, stopped_all, wait_until, worker_status
from ownership_history import HistoryLoad, Recorder, check_epochs_go_up, check_one_owner_per_epoch, format_report
from cluster import default_routes

EVERY_MS = 200
CONFIG = {"heartbeat_ms": 300, "quick_timeout_ms": 500, "idle_timeout_s": 600}
DEAD = "h1-1"


def routes():
    out = []
    for r in default_routes():
        r = dict(r)
        if r.get("session") == "testkit":
            r["checkpoint"] = {"every_ms": EVERY_MS}
        out.append(r)
    return out


def state_keys(c):
    return [k for k in redis_cli(c, "--scan", "--pattern", "tether:state:*").split() if k]


class RecoveryTest(unittest.TestCase):
    def cluster(self):
        c = Cluster(workers=3, routes=routes(), config=dict(CONFIG)).start()
        self.addCleanup(c.stop)
        wait_until(lambda: all(worker_status(c, n)["redis"]["workers_known"] == 3 for n in range(3)), 15,
                   "every worker to see the other two")
        return c

    def session_on(self, c, owner, path, end):
        """A client cookie for a session that lives on owner (bounded tries)."""
        cl = Client(c.port)
        self.addCleanup(cl.close)
        for _ in range(100):
            cl.cookie = None
            if cl.json(path)["owner"] == owner:
                return cl
            cl.request(*end)  # not there: end it
        self.fail("no session landed on " + owner)

    def test_kill_9_brings_checkpointed_sessions_back_recovered_and_others_lost(self):
        c = self.cluster()
        kits = [self.session_on(c, DEAD, "/t/count", ("/t/end",)) for _ in range(4)]
        notes = [self.session_on(c, DEAD, "/api/notes", ("/logout", "POST")) for _ in range(2)]
        notes_before = [cl.json("/api/notes")["session"] for cl in notes]

        rec = Recorder()
        load = HistoryLoad(rec, [c.port] * len(kits), seconds=90, max_ops=20000, pause_s=0.02)
        for (cl, _), kit in zip(load.clients, kits):
            cl.cookie = kit.cookie
        load.start()
        self.addCleanup(load.stop)
        wait_until(lambda: all(sum(1 for o in rec.ops if o["c"] == i and o["status"] == 200) >= 40
                               for i in range(len(kits))), 30, "every client to be under way for a while")
        # Every kit session has a checkpoint (written at most every 200 ms after a request).
        wait_until(lambda: len(state_keys(c)) >= len(kits), 10, "the checkpoints to be written")

        pid = c.workers[1].pid
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        c.workers[1].wait(10)
        t1 = time.monotonic()
        rec.fault("kill9", DEAD, t0, t1)
        del c.workers[1]
        wait_until(lambda: all(sum(1 for o in rec.ops if o["c"] == i and o["status"] == 200 and o["t0"] > t1) >= 10
                               for i in range(len(kits))), 60, "every client to be served 10 times after the kill")
        self.assertTrue(load.stop(60), "the client loop did not stop")
        ops = list(rec.ops)
        report = format_report(ops, rec.faults, [], origin=rec.origin)

        # Not two owners at one epoch; epochs only go up.
        violations = check_one_owner_per_epoch(ops) + check_epochs_go_up(ops)
        self.assertEqual(violations, [], format_report(ops, rec.faults, violations, origin=rec.origin))

        for i in range(len(kits)):
            mine = sorted((o for o in ops if o["c"] == i and o["status"] == 200), key=lambda o: o["t0"])
            before = [o for o in mine if o["owner"] == DEAD]
            after = [o for o in mine if o["owner"] != DEAD]
            self.assertTrue(before and after, report)
            self.assertTrue(all(o["t0"] < t1 for o in before), report)  # the dead owner never answered again
            last, first = before[-1], after[0]
            # The same session, recovered elsewhere at the next epoch.
            self.assertEqual(first["sid"], last["sid"], (i, report))
            self.assertEqual(first["reason"], "recovered", (i, report))
            self.assertEqual(first["epoch"], last["epoch"] + 1, (i, report))
            # Its counter as of its last checkpoint: never ahead of the dead
            # owner's last answer, and behind it by what one interval (plus
            # the writer's round trip) held at most.
            self.assertLessEqual(first["n"], last["n"] + 1, (i, report))
            settled = [o for o in before if o["t1"] < t0 - (EVERY_MS + 300) / 1000.0]
            self.assertTrue(settled, report)
            self.assertGreater(first["n"], settled[-1]["n"], (i, report))
            # Then it goes on, one step per request, at one owner.
            for a, b in zip(after, after[1:]):
                self.assertEqual((b["sid"], b["owner"], b["n"]), (a["sid"], a["owner"], a["n"] + 1), (i, report))
            # Nothing was answered by the session under another id, and every request was answered.
            self.assertEqual([o for o in mine if o["sid"] != last["sid"]], [], report)

        # The notes pad does not checkpoint: its sessions come back lost.
        for cl, sid in zip(notes, notes_before):
            j = cl.json("/api/notes")
            self.assertNotEqual(j["session"], sid)
            self.assertEqual(j["started_because"], "lost")

        recovered = sum(worker_status(c, n)["sessions"].get("recovered", 0) for n in c.workers) \
            if "recovered" in worker_status(c, 0)["sessions"] else None
        if recovered is not None:
            self.assertEqual(recovered, len(kits))


    @staticmethod
    def resume(pid):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    def records(self, c):
        """short session id (12 hex) -> the checkpoint record, decoded."""
        out = {}
        for k in state_keys(c):
            try:
                out[k.split(":")[-1][:12]] = json.loads(redis_cli(c, "GET", k))
            except ValueError:
                pass
        return out

    def test_a_stopped_owner_that_resumes_no_longer_answers_for_its_recovered_sessions(self):
        c = self.cluster()
        kits = [self.session_on(c, DEAD, "/t/count", ("/t/end",)) for _ in range(3)]
        before = {}
        for cl in kits:
            for _ in range(3):
                before[cl.cookie] = cl.json("/t/count")
        # Each session's checkpoint holds its last count.
        wait_until(lambda: all(self.records(c).get(b["session"], {}).get("state", {}).get("n") == b["n"]
                               for b in before.values()), 10, "the checkpoints to hold the last counts")
        pid = c.workers[1].pid
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(self.resume, pid)
        wait_until(lambda: stopped_all(pid), 10, "every thread of worker 1 to stop")
        # Each client enters worker 0: its owner is silent past the quick timeout: recovered there.
        fresh = {}
        for cl in kits:
            b = before[cl.cookie]
            r = fcgi.get(c.worker_addr(0), "/t/count", cookie="tether_sid=" + cl.cookie)
            j = json.loads(r.body)
            self.assertEqual((r.status, j["reason"], j["owner"], j["session"], j["n"], j["epoch"]),
                             (200, "recovered", "h1-0", b["session"], b["n"] + 1, b["epoch"] + 1))
            fresh[cl.cookie] = [v for v in r.header("Set-Cookie") if v.startswith("tether_sid=")][0].split(";")[0]
        os.kill(pid, signal.SIGCONT)
        # Back, worker 1 checks its sessions' ownership at once (it was away
        # past the directory's window): all three are another's now, ended here.
        wait_until(lambda: worker_status(c, 1)["redis"]["lost_ownership"] >= 3, 10,
                   "worker 1 to find its sessions owned elsewhere")
        self.assertEqual(worker_status(c, 1)["sessions"]["live"], 0)
        for cl in kits:
            b = before[cl.cookie]
            # The old cookie, straight to the old owner: answered by the new one, in the recovered session.
            r = fcgi.get(c.worker_addr(1), "/t/count", cookie="tether_sid=" + cl.cookie)
            j = json.loads(r.body)
            self.assertEqual((r.status, j["owner"], j["session"], j["n"]), (200, "h1-0", b["session"], b["n"] + 2))
            # The new cookie, through nginx: the new owner.
            new = Client(c.port, cookie=fresh[cl.cookie][len("tether_sid="):])
            self.addCleanup(new.close)
            j = new.json("/t/count")
            self.assertEqual((j["owner"], j["session"], j["n"]), ("h1-0", b["session"], b["n"] + 3))
        # The checkpoints are the new owner's, at the new epoch: the old owner's writes were fenced.
        wait_until(lambda: all(self.records(c).get(b["session"], {}).get("state", {}).get("n") == b["n"] + 3
                               for b in before.values()), 10, "the new owner's checkpoints")
        for b in before.values():
            rec = self.records(c)[b["session"]]
            self.assertEqual((rec["host"], rec["worker"], rec["epoch"]), ("h1", 0, b["epoch"] + 1))

    def test_a_resumed_owner_drops_its_stale_copies_without_on_end_and_keeps_the_new_checkpoints(self):
        """The stopped owner's copies of sessions recovered elsewhere live on
        at their new owner: dropped on resume, not ended (on_end would run
        for a session that is not over; SessionHost::end counts
        sessions.ended.killed right before on_end), and the new owner's
        checkpoint records are left alone (the delete is fenced by epoch)."""
        c = self.cluster()
        kits = [self.session_on(c, DEAD, "/t/count", ("/t/end",)) for _ in range(2)]
        before = {cl.cookie: cl.json("/t/count") for cl in kits}
        wait_until(lambda: all(self.records(c).get(b["session"], {}).get("state", {}).get("n") == b["n"]
                               for b in before.values()), 10, "the checkpoints to hold the last counts")
        pid = c.workers[1].pid
        was = worker_status(c, 1)["sessions"]
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(self.resume, pid)
        wait_until(lambda: stopped_all(pid), 10, "every thread of worker 1 to stop")
        for cl in kits:
            r = fcgi.get(c.worker_addr(0), "/t/count", cookie="tether_sid=" + cl.cookie)
            self.assertEqual((r.status, json.loads(r.body)["reason"]), (200, "recovered"))

        def new_records():
            got = self.records(c)
            return {b["session"]: got.get(b["session"]) for b in before.values()}
        wait_until(lambda: all(r and (r["worker"], r["epoch"], r["state"]["n"]) == (0, b["epoch"] + 1, b["n"] + 1)
                               for b, r in zip(before.values(), new_records().values())), 10,
                   "the new owner's checkpoints")
        records = new_records()
        os.kill(pid, signal.SIGCONT)
        wait_until(lambda: worker_status(c, 1)["redis"]["lost_ownership"] >= len(kits), 10,
                   "worker 1 to find its sessions owned elsewhere")
        now = worker_status(c, 1)["sessions"]
        self.assertEqual(now["live"], was["live"] - len(kits))
        # Dropped, not ended: no on_end (ended.killed unchanged), counted as stale copies.
        self.assertEqual((now["ended"], now["moved_in"], now["moved_out"]),
                         (was["ended"], was["moved_in"], was["moved_out"]))
        self.assertEqual(now["dropped_stale"], was["dropped_stale"] + len(kits))
        # The old owner's end of its copies deleted nothing: the records are the new owner's, unchanged.
        self.assertEqual(new_records(), records)


if __name__ == "__main__":
    unittest.main()
