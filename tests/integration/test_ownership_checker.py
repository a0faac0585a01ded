"""The ownership checker (issue 16, item 5), short schedule: client threads,
each with its own session, count on /t/count through nginx (most by the
cookie's route, some through a pass-through server so that workers forward)
while faults run one after another: kill -9, SIGSTOP/SIGCONT past the quick
timeout and the heartbeat, `tetherctl drain`, Redis slowed for one worker,
Redis killed and restarted, a rolling `supervisorctl restart`. Sessions
checkpoint (the default routes): one whose owner died comes back
`recovered`, its counter possibly stepped back to its last checkpoint,
which the checker allows only there (ownership_history.recovery_points).
The history is then checked (ownership_history.check). CheckerTest feeds the checker
hand-made histories with each kind of violation: it must find them.
scripts/ownership_soak.py runs the long schedule (make soak)."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from common import Cluster, free_port, passthrough_server, stop_pid, wait_until, worker_status
from netns import TestNetwork
from ownership_faults import CheckerCluster, Faults, all_see
from ownership_history import HistoryLoad, Recorder, check, figures, format_report
from test_multihost import start_redis

CONFIG = {"heartbeat_ms": 200, "quick_timeout_ms": 500, "drain_timeout_s": 10, "request_timeout_s": 5,
          "idle_timeout_s": 600}
ROUTED, FORWARDED = 8, 4  # clients through the route map / through the pass-through server
CHURNERS = 2  # of the routed clients, those that drop their cookie every 100 requests


def op(c, t0, t1, sid=None, n=0, owner="h1-0", pid=100, epoch=None, reason="new", status=200, held=None):
    out = {"c": c, "t0": t0, "t1": t1, "status": status, "held": held}
    if status == 200:
        out.update(sid=sid, n=n, owner=owner, pid=pid, epoch=epoch, reason=reason)
    return out


def kinds(ops, faults=()):
    return sorted(v["kind"] for v in check(ops, list(faults)))


class CheckerTest(unittest.TestCase):
    """The checker, on histories made by hand: each violation is found."""

    def test_a_clean_history_with_a_move_a_gap_and_an_explained_end(self):
        ops = [op(0, 0, 1, "a", 1, epoch=1), op(0, 1, 2, status="error:timeout"),
               op(0, 2, 3, "a", 3, owner="h1-1", pid=101, epoch=2),  # moved; the failed request counted
               op(0, 4, 5, "b", 1, owner="h1-1", pid=101, epoch=1, reason="lost"),
               op(1, 0.5, 1.5, "c", 1, owner="h1-2", pid=102), op(1, 2, 2.5, "c", 2, owner="h1-0", pid=103)]
        fault = {"kind": "kill9", "target": "h1-1", "t0": 3.5, "t1": 4}
        self.assertEqual(kinds(ops, [fault]), [])
        f = figures(ops, [fault], [])
        self.assertEqual((f["sessions"], f["requests"], f["moves"], f["session_changes"]), (3, 6, 2, {"lost": 1}))

    def test_two_owners_at_one_epoch(self):
        ops = [op(0, 0, 1, "a", 1, epoch=1), op(0, 2, 3, "a", 2, owner="h1-1", pid=101, epoch=1)]
        self.assertEqual(kinds(ops), ["two_owners_one_epoch"])

    def test_an_older_epoch_answers_after_a_newer_one(self):
        ops = [op(0, 0, 1, "a", 1, epoch=1), op(0, 2, 3, "a", 2, owner="h1-1", pid=101, epoch=2),
               op(0, 4, 5, "a", 3, epoch=1)]
        self.assertEqual(kinds(ops), ["epoch_went_back"])

    def test_overlapping_answers_may_come_in_any_order(self):
        ops = [op(0, 0, 3, "a", 2, owner="h1-1", pid=101, epoch=2), op(1, 1, 2, "a", 1, epoch=1)]
        self.assertEqual([v["kind"] for v in check(ops, []) if v["kind"] != "session_shared"], [])

    def test_without_epochs_an_owner_that_answers_again_after_another(self):
        ops = [op(0, 0, 1, "a", 1), op(0, 2, 3, "a", 2, owner="h1-1", pid=101), op(0, 4, 5, "a", 3)]
        self.assertEqual(kinds(ops), ["owner_came_back"])

    def test_a_counter_that_repeats(self):
        ops = [op(0, 0, 1, "a", 1), op(0, 2, 3, "a", 2), op(0, 4, 5, "a", 2, owner="h1-1", pid=101)]
        self.assertEqual(kinds(ops), ["counter_repeated"])

    def test_a_counter_that_goes_back(self):
        ops = [op(0, 0, 1, "a", 5), op(0, 2, 3, "a", 3)]
        self.assertEqual(kinds(ops), ["counter_went_back"])

    KILL_H1_0 = {"kind": "kill9", "target": "h1-0", "t0": 5.5, "t1": 6}

    def recovered(self, n0, epoch=2, reason="recovered", t=7, owner="h1-1", pid=101):
        """Session a: n 1..3 at epoch 1 on h1-0 (killed at 5.5), then three
        answers from n0 on owner at epoch with reason."""
        return ([op(0, k, k + 1, "a", k // 2 + 1, epoch=1) for k in (0, 2, 4)] +
                [op(0, t + k, t + k + 1, "a", n0 + k // 2, owner=owner, pid=pid, epoch=epoch, reason=reason)
                 for k in (0, 2, 4)])

    def test_a_recovered_session_may_step_back_to_its_checkpoint_then_counts_on(self):
        for n0 in (2, 1, 4, 9):  # checkpoint at n=1 (or before the first request: 0), none lost, a gap
            self.assertEqual(kinds(self.recovered(n0), [self.KILL_H1_0]), [], n0)
        f = figures(self.recovered(2), [self.KILL_H1_0], [])
        self.assertEqual((f["recoveries"], f["moves"], f["session_changes"]), (1, 1, {}))
        # Then drained at epoch 3 (its reason stays "recovered"): no step back there.
        ops = self.recovered(2) + [op(0, 14, 15, "a", 5, owner="h1-2", pid=102, epoch=3, reason="recovered")]
        drain = {"kind": "drain", "target": "h1-1", "t0": 13, "t1": 14}
        self.assertEqual(kinds(ops, [self.KILL_H1_0, drain]), [])
        ops[-1]["n"] = 3
        self.assertEqual(kinds(ops, [self.KILL_H1_0, drain]), ["counter_repeated", "counter_went_back"])

    def test_a_step_back_without_recovered_or_within_one_epoch_or_without_a_fault(self):
        self.assertEqual(kinds(self.recovered(2, reason="new"), [self.KILL_H1_0]),  # n=2 and n=3 again
                         ["counter_repeated", "counter_repeated", "counter_went_back"])
        self.assertEqual(kinds(self.recovered(2, epoch=1, owner="h1-0", pid=100), [self.KILL_H1_0]),
                         ["counter_repeated", "counter_repeated", "counter_went_back", "recovered_without_fault"])
        both = ["counter_repeated", "counter_repeated", "counter_went_back", "recovered_without_fault"]
        self.assertEqual(kinds(self.recovered(2)), both)
        far = {"kind": "kill9", "target": "h1-0", "t0": 30, "t1": 31}
        self.assertEqual(kinds(self.recovered(2), [far]), both)

    def test_a_recovered_session_that_repeats_or_steps_back_too_far(self):
        ops = self.recovered(2)
        ops[-1]["n"] = 3
        self.assertEqual(kinds(ops, [self.KILL_H1_0]), ["counter_repeated"])
        # Moved to h1-1 at epoch 2 (n 3..4), killed there, restored from epoch 1's checkpoint (n=1).
        ops = [op(0, 0, 1, "a", 1, epoch=1), op(0, 2, 3, "a", 2, epoch=1),
               op(0, 4, 5, "a", 3, owner="h1-1", pid=101, epoch=2), op(0, 6, 7, "a", 4, owner="h1-1", pid=101, epoch=2),
               op(0, 9, 10, "a", 2, owner="h1-2", pid=102, epoch=3, reason="recovered")]
        faults = [{"kind": "drain", "target": "h1-0", "t0": 3, "t1": 4},
                  {"kind": "kill9", "target": "h1-1", "t0": 7.5, "t1": 8}]
        self.assertEqual(kinds(ops, faults), ["recovered_too_far_back"])
        ops[-1]["n"] = 3  # restored from epoch 2's checkpoint, taken after n=2 was handed over
        self.assertEqual(kinds(ops, faults), [])

    def test_a_session_that_ends_without_a_fault_or_with_reason_new(self):
        ops = [op(0, 0, 1, "a", 1), op(0, 10, 11, "b", 1, reason="lost"),
               op(1, 0, 1, "c", 1), op(1, 2, 3, "d", 1, reason="new")]
        fault = {"kind": "drain", "target": "h1-0", "t0": 20, "t1": 21}
        self.assertEqual(kinds(ops, [fault]), ["end_without_fault", "unexplained_end"])

    def test_a_session_lost_near_a_fault_that_should_not_end_it(self):
        ops = [op(0, 0, 1, "a", 1, owner="h1-1"), op(0, 2, 3, "b", 1, reason="lost"),
               op(1, 0, 1, "c", 1, owner="h1-2"), op(1, 2, 3, "d", 1, reason="expired")]
        faults = [{"kind": "drain", "target": "h1-1", "t0": 1, "t1": 2},  # hands sessions over
                  {"kind": "kill9", "target": "h1-0", "t0": 1, "t1": 2},  # not c's owner
                  {"kind": "redis_kill", "target": "redis", "t0": 1, "t1": 2}]
        self.assertEqual(kinds(ops, faults), ["end_without_fault", "end_without_fault"])
        faults.append({"kind": "partition", "target": "h1", "t0": 2.5, "t1": 4})  # the owners' host cut off
        self.assertEqual(kinds(ops, faults), [])

    def test_a_client_that_drops_its_cookie_starts_a_new_session(self):
        ops = [op(0, 0, 1, "a", 1), op(0, 2, 3, "b", 1), op(0, 4, 5, "c", 1, reason="lost")]
        ops[1]["fresh"] = ops[2]["fresh"] = True
        self.assertEqual(kinds(ops), ["unexplained_start"])

    def test_a_session_shared_by_two_clients_or_changing_its_reason_or_coming_back(self):
        fault = {"kind": "kill9", "target": "h1-0", "t0": 0, "t1": 20}
        self.assertEqual(kinds([op(0, 0, 1, "a", 1), op(1, 2, 3, "a", 2)]), ["session_shared"])
        self.assertEqual(kinds([op(0, 0, 1, "a", 1), op(0, 2, 3, "a", 2, reason="lost")]), ["reason_changed"])
        ops = [op(0, 0, 1, "a", 1), op(0, 2, 3, "b", 1, reason="lost"), op(0, 4, 5, "a", 2)]
        self.assertEqual(kinds(ops, [fault]), ["session_came_back"])


class OwnershipCheckerTest(unittest.TestCase):
    """The load on a cluster of 3 workers under supervisord (worker 2's Redis
    behind a latency proxy) while faults run; the history must show one
    owner per session. test_a_redis_restart_ends_no_session found a bug:
    after Redis was killed and restarted, the worker that reconnected first
    read a directory without the workers whose reconnect back-off had not
    run out, so a forwarded request made a new session (reason "lost")
    while its owner was up and held it (fixed in Registry::heartbeat: the
    directory before the outage is kept until every worker could beat
    again)."""
    def run_schedule(self, schedule, expect_faults):
        """The load on a fresh cluster while schedule [(what, inject)] runs, one
        fault after another, every client served again after each; then the
        history's figures are printed and checked: its violations."""
        started = time.monotonic()
        extra_port = free_port()
        c = CheckerCluster(proxied=2, workers=3, supervisord=True, config=CONFIG,
                           nginx_http_extra=passthrough_server(extra_port))
        c.start()
        self.addCleanup(c.stop)
        wait_until(lambda: all_see(c, 3), 20, "3 workers in every directory")
        rec = Recorder()
        load = HistoryLoad(rec, [c.port] * ROUTED + [extra_port] * FORWARDED, seconds=120, fresh_every=100,
                           churners=CHURNERS).start()
        self.addCleanup(load.stop)
        faults = Faults(c, rec, hold_s=2.0)
        clients = set(range(ROUTED + FORWARDED))

        def progress(what):
            t = time.monotonic()
            wait_until(lambda: load.served_since(t) == clients, 30, "every client served after " + what)

        progress("start")
        for what, inject in schedule(faults):
            inject()
            progress(what)
        self.assertTrue(load.stop(), "client threads still running")
        violations = check(rec.ops, rec.faults)
        print("\n" + format_report(rec.ops, rec.faults, violations, rec.origin))
        print("ownership checker: %.0f s wall (cluster files: %s)" % (time.monotonic() - started, c.workdir))
        f = figures(rec.ops, rec.faults, violations)
        self.assertEqual(f["faults"], expect_faults)
        self.assertGreaterEqual(f["sessions"], ROUTED + FORWARDED)
        return rec, violations

    def test_one_owner_per_session_under_a_schedule_of_faults(self):
        def schedule(faults):
            return [("kill9 h1-0", lambda: faults.kill9(0)), ("sigstop h1-1", lambda: faults.stop_cont(1)),
                    ("drain h1-2", lambda: faults.drain(2)),
                    ("redis slow for h1-2", lambda: faults.redis_slow(0.03)),
                    ("drain h1-2, its redis slow", lambda: faults.redis_slow(0.03, drain=True)),
                    ("redis stalled for h1-2", lambda: faults.redis_slow(0.5)),
                    ("rolling restart", faults.rolling_restart)]
        rec, violations = self.run_schedule(schedule, {"kill9": 1, "sigstop": 1, "drain": 2, "redis_slow": 2,
                                                       "redis_stall": 1, "restart": 3})
        self.assertGreater(figures(rec.ops, rec.faults, [])["moves"], 0, "no session was handed over")
        self.assertEqual(violations, [], format_report(rec.ops, rec.faults, violations, rec.origin))

    def test_a_redis_restart_ends_no_session(self):
        """No worker is silent, so no session may end (failed before the fix:
        3 to 7 sessions lost in each of 5 runs)."""
        rec, violations = self.run_schedule(lambda faults: [("redis kill", faults.redis_kill)] * 2,
                                            {"redis_kill": 2})
        self.assertEqual(violations, [], format_report(rec.ops, rec.faults, violations, rec.origin))


class NetnsPartitionTest(unittest.TestCase):
    """Two hosts in network namespaces (tests/integration/netns.py) sharing
    one Redis in the root namespace, two workers each; clients on host A
    whose sessions live on host B (forwarded across), and clients of each
    host's own nginx. Host B is cut off past the quick timeout and the
    heartbeat, then joined again; the history is checked, and A recovered
    the sessions its clients used on B (from their checkpoints), losing none."""
    HOLD_S = 2.0
    ACROSS, EACH = 4, 3  # clients through A with sessions on B; clients of each host's own nginx

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or shutil.which("ip") is None:
            raise unittest.SkipTest("a partition needs root and `ip netns` (test_multihost's hosts)")
        cls.net = TestNetwork(2)
        try:
            cls.net.up()
        except (RuntimeError, OSError) as e:
            cls.net.down()
            raise unittest.SkipTest("network namespaces cannot be made here: %s" % e)

    @classmethod
    def tearDownClass(cls):
        cls.net.down()

    def up(self, i, c):
        try:
            return all(worker_status(c, n)["redis"]["up"] and worker_status(c, n)["redis"]["workers_known"] == 4
                       for n in c.workers)
        except (OSError, EOFError, ValueError, KeyError):
            return False

    def checkpointed(self, port, rec, clients):
        """Every session the clients were answered in has a checkpoint record."""
        keys = subprocess.run(["redis-cli", "-h", self.net.gateway, "-p", str(port), "--scan", "--pattern",
                               "tether:state:*"], capture_output=True, text=True, timeout=30).stdout.split()
        with rec.lock:
            sids = {o["sid"] for o in rec.ops if o["c"] in clients and o.get("status") == 200}
        return bool(sids) and all(any(k.split(":")[-1].startswith(s) for k in keys) for s in sids)

    def test_a_partitioned_hosts_sessions_used_across_come_back_recovered(self):
        started = time.monotonic()
        workdir = tempfile.mkdtemp(prefix="tether-checker-netns-")
        self.addCleanup(shutil.rmtree, workdir, True)
        redis, port = start_redis(self.net.gateway, workdir)
        self.addCleanup(stop_pid, redis)
        hosts = [Cluster(workers=2, host="h" + "ab"[i], tcp=True, ip=ip, netns=ns, config=CONFIG,
                         redis_addr=(self.net.gateway, port), key_file=os.path.join(workdir, "keys"))
                 for i, (ip, ns) in enumerate(zip(self.net.ips, self.net.ns))]
        for c in hosts:
            self.addCleanup(c.stop)
            c.start()
        a, b = [(c.ip, c.port) for c in hosts]
        wait_until(lambda: all(self.up(i, c) for i, c in enumerate(hosts)), 20, "every worker to see all 4")
        rec = Recorder()
        load = HistoryLoad(rec, [a] * (self.ACROSS + self.EACH) + [b] * self.EACH, seconds=60, timeout_s=10,
                           start_at=[b] * self.ACROSS + [None] * (2 * self.EACH)).start()
        self.addCleanup(load.stop)
        clients = set(range(self.ACROSS + 2 * self.EACH))
        t = time.monotonic()
        wait_until(lambda: load.served_since(t) == clients, 30, "every client served")
        # The sessions on B that A's clients use have checkpoints (the first comes one interval after a
        # session's creation): A recovers them rather than giving up on them.
        across = set(range(self.ACROSS))
        wait_until(lambda: self.checkpointed(port, rec, across), 20, "checkpoints of B's sessions used through A")
        t0 = time.monotonic()
        self.net.partition(1)
        self.addCleanup(self.net.heal, 1)
        time.sleep(self.HOLD_S)  # the fault: host B cut off this long
        self.net.heal(1)
        wait_until(lambda: all(self.up(i, c) for i, c in enumerate(hosts)), 30, "host B back in every directory")
        rec.fault("partition", "hb", t0, time.monotonic())
        t = time.monotonic()
        wait_until(lambda: load.served_since(t) == clients, 40, "every client served after the partition")
        self.assertTrue(load.stop(), "client threads still running")
        violations = check(rec.ops, rec.faults)
        print("\n" + format_report(rec.ops, rec.faults, violations, rec.origin))
        print("ownership checker, partition: %.0f s wall" % (time.monotonic() - started))
        f = figures(rec.ops, rec.faults, violations)
        # A recovered B's sessions (the same ids, at the next epoch): none lost.
        self.assertEqual((f["recoveries"], f["session_changes"].get("lost", 0)), (self.ACROSS, 0),
                         format_report(rec.ops, rec.faults, violations, rec.origin))
        self.assertEqual(violations, [], format_report(rec.ops, rec.faults, violations, rec.origin))


if __name__ == "__main__":
    unittest.main()
