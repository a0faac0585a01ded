"""`tetherctl reload` (issue 20): every live worker of the host re-reads its
rules (as on SIGHUP, asked over the bus), and the command reports each
worker's result, read back from its heartbeat figures (status section
"config"): ok with the rule count, or failed with the error while the old
rules stay. A reload for a host with no live worker says so and fails."""
import json
import signal
import os
import unittest

import fcgi
from common import Cluster, redis_cli, tetherctl, wait_until, worker_status

RULES = [{"match": "^/tether/status$", "status": {}},
         {"match": "^/hello$", "controller": "hello"},
         {"match": "^/t/", "session": "testkit"}]


class TetherctlReloadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(workers=2, routes=RULES, nginx=False, config={"heartbeat_ms": 200})
        cls.c.start()

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def write_routes(self, routes):
        with open(self.c.config_path) as f:
            cfg = json.load(f)
        cfg["routes"] = routes
        with open(self.c.config_path, "w") as f:
            json.dump(cfg, f)

    def statuses(self, path):
        return [fcgi.get(self.c.worker_addr(n), path).status for n in range(self.c.n)]

    def figures(self):
        return [worker_status(self.c, n)["config"] for n in range(self.c.n)]

    def wait_heartbeats(self):
        # Every worker's figures are in Redis (tetherctl reads them from there).
        wait_until(lambda: all(redis_cli(self.c, "HGET", "tether:worker:h1:%d" % n, "figures").strip()
                               for n in range(self.c.n)), 10, "the heartbeat figures")

    def test_1_reload_loads_new_rules_on_every_worker_and_reports_each(self):
        self.wait_heartbeats()
        self.assertEqual(self.statuses("/hello2"), [404, 404])
        before = self.figures()
        self.assertEqual([f["rules"] for f in before], [3, 3])
        self.write_routes(RULES + [{"match": "^/hello2$", "controller": "hello"}])
        rc, out, err = tetherctl(self.c, "reload")
        self.assertEqual(rc, 0, out + err)
        for n in range(self.c.n):
            self.assertRegex(out, r"h1-%d\s+ok\s+4 rules" % n)
        self.assertEqual(self.statuses("/hello2"), [200, 200])
        after = self.figures()
        for b, a in zip(before, after):
            self.assertEqual((a["reloads"], a["reload_failures"], a["last_ok"]), (b["reloads"] + 1, 0, True))

    def test_2_a_broken_file_is_reported_per_worker_and_the_old_rules_stay(self):
        self.wait_heartbeats()
        self.write_routes(RULES + [{"match": "^/hello2$", "controller": "hello"}])
        rc, out, err = tetherctl(self.c, "reload")
        self.assertEqual(rc, 0, out + err)
        before = self.figures()
        self.write_routes([{"match": "(", "controller": "hello"}])
        rc, out, err = tetherctl(self.c, "reload", "--json")
        self.assertEqual(rc, 1, out + err)
        report = json.loads(out)
        self.assertEqual(report["reload"], "h1")
        self.assertEqual([w["worker"] for w in report["workers"]], ["h1-0", "h1-1"])
        for w in report["workers"]:
            self.assertEqual(w["result"], "failed")
            self.assertIn("routes", w["error"])
            self.assertEqual(w["rules"], 4)  # the old ones, still in force
        self.assertEqual(self.statuses("/hello2"), [200, 200])
        for b, a in zip(before, self.figures()):
            self.assertEqual(a["reload_failures"], b["reload_failures"] + 1)
            self.assertFalse(a["last_ok"])
            self.assertIn("routes", a["last_error"])
        # Fixed again: ok, and the failure is no longer the last result.
        self.write_routes(RULES)
        rc, out, err = tetherctl(self.c, "reload")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(self.statuses("/hello2"), [404, 404])
        self.assertTrue(all(f["last_ok"] and f["last_error"] == "" for f in self.figures()))

    def test_3_sighup_is_recorded_too(self):
        before = worker_status(self.c, 0)["config"]["reloads"]
        os.kill(self.c.worker_pid(0), signal.SIGHUP)
        wait_until(lambda: worker_status(self.c, 0)["config"]["reloads"] == before + 1, 10, "the SIGHUP reload")

    def test_4_no_live_worker_on_that_host(self):
        rc, out, err = tetherctl(self.c, "reload", "h9")
        self.assertEqual(rc, 1)
        self.assertIn("no live worker", err)

    def test_5_a_reload_message_for_another_host_changes_nothing_here(self):
        before = [f["reloads"] for f in self.figures()]
        bad_before = [self.refused(n) for n in range(self.c.n)]
        self.assertEqual(redis_cli(self.c, "PUBLISH", "tether:bus", '{"type":"reload","host":"h9"}').strip(), "2")
        self.assertEqual(redis_cli(self.c, "PUBLISH", "tether:bus", '{"type":"reload","host":"h-1"}').strip(), "2")
        # A reload of this host afterwards is the next one each worker sees: the two above did nothing.
        rc, out, err = tetherctl(self.c, "reload")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual([f["reloads"] for f in self.figures()], [b + 1 for b in before])
        # The malformed one was refused and counted by every worker.
        self.assertEqual([self.refused(n) for n in range(self.c.n)], [b + 1 for b in bad_before])

    def refused(self, n):
        return worker_status(self.c, n)["errors"]["refused"].get("bus.bad_message", 0)


if __name__ == "__main__":
    unittest.main()
