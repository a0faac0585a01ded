"""Write-behind checkpoints (issue 18), through nginx with real redis-server
and workers: a checkpointing session's state appears in Redis within the
interval, is updated, and disappears when the session ends; the status
figures count; tetherctl session shows the record's age; a snapshot past
max_snapshot_bytes is skipped and counted; malformed options are refused
with the file and the field."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from common import Client, Cluster, build_dir, redis_cli, tetherctl, wait_until, worker_status, write_key_file

EVERY_MS = 1000  # the test kit's interval in scripts/cluster.py default_routes


def state_keys(cluster, short):
    return [k for k in redis_cli(cluster, "--scan", "--pattern", "tether:state:%s*" % short).split() if k]


def record(cluster, short):
    """The session's checkpoint record, decoded, or None."""
    keys = state_keys(cluster, short)
    if not keys:
        return None
    value = redis_cli(cluster, "GET", keys[0]).strip()
    return json.loads(value) if value else None


def owner_n(reply):
    return int(reply["owner"].rsplit("-", 1)[1])


class CheckpointTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(workers=2, config={"max_snapshot_bytes": 2048}).start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def test_state_appears_within_the_interval_is_updated_and_goes_with_the_session(self):
        c = Client(self.cluster.port)
        self.addCleanup(c.close)
        first = c.json("/t/count")
        short, n = first["session"], owner_n(first)
        asked = time.monotonic()
        wait_until(lambda: record(self.cluster, short) is not None, 10, "the first checkpoint")
        self.assertLess(time.monotonic() - asked, EVERY_MS / 1000 + 1.5, "within the interval (and the write)")
        rec = record(self.cluster, short)
        self.assertEqual((rec["v"], rec["app"], rec["host"], rec["worker"], rec["epoch"]),
                         (1, "testkit", "h1", n, 1))
        self.assertEqual(rec["state"]["n"], 1)
        self.assertLessEqual(rec["created"], rec["at"])
        key = state_keys(self.cluster, short)[0]
        ttl = int(redis_cli(self.cluster, "PTTL", key))
        self.assertGreater(ttl, 0)
        session_ttl = int(redis_cli(self.cluster, "PTTL", key.replace(":state:", ":session:")))
        self.assertLess(abs(ttl - session_ttl), 120 * 1000, "the entry's TTL")

        for _ in range(2):
            c.json("/t/count")
        wait_until(lambda: (record(self.cluster, short) or {}).get("state", {}).get("n") == 3, 10,
                   "the checkpoint of n = 3")

        f = worker_status(self.cluster, n)["checkpoints"]
        self.assertGreaterEqual(f["written"], 2, f)
        self.assertGreaterEqual(f["taken"], 2, f)
        self.assertGreater(f["written_bytes"], 0, f)
        self.assertEqual(f["fenced"], 0, f)
        self.assertGreaterEqual(f["lag_max_ms"], f["lag_ms"])  # lag_ms: the p99
        self.assertLess(f["lag_ms"], 5000, f)

        rc, out, err = tetherctl(self.cluster, "session", short)
        self.assertEqual(rc, 0, err)
        line = [ln for ln in out.splitlines() if ln.startswith("checkpoint")]
        self.assertEqual(len(line), 1, out)
        self.assertIn("age ", line[0])
        self.assertIn("by h1-%d at epoch 1" % n, line[0])
        self.assertNotIn("stale", line[0])
        rc, out, err = tetherctl(self.cluster, "--json", "session", short)
        self.assertEqual(rc, 0, err)
        ck = json.loads(out)["checkpoint"]
        self.assertTrue(ck["exists"] and ck["current"], ck)
        self.assertLess(ck["age_ms"], 60 * 1000)

        deleted = f["deleted"]
        status, _, _ = c.request("/t/end")
        self.assertEqual(status, 200)
        wait_until(lambda: not state_keys(self.cluster, short), 10, "the record to go with the session")
        wait_until(lambda: worker_status(self.cluster, n)["checkpoints"]["deleted"] > deleted, 10, "deleted counted")

    def test_a_snapshot_past_max_snapshot_bytes_is_skipped_and_counted_and_the_session_goes_on(self):
        c = Client(self.cluster.port)
        self.addCleanup(c.close)
        first = c.json("/t/count")
        short, n = first["session"], owner_n(first)
        wait_until(lambda: record(self.cluster, short) is not None, 10, "the first checkpoint")
        before = worker_status(self.cluster, n)["checkpoints"]["skipped_too_large"]
        for i in range(4):
            self.assertEqual(c.request("/t/seq?v=" + "x" * 600)[0], 200)  # 2400 bytes of state > 2048
        wait_until(lambda: worker_status(self.cluster, n)["checkpoints"]["skipped_too_large"] > before, 10,
                   "the skip counted")
        self.assertEqual(record(self.cluster, short)["state"]["n"], 1, "the last record that fit stays")
        self.assertEqual(c.json("/t/count")["n"], 2, "the session goes on")

    def test_tetherctl_refuses_a_record_that_does_not_decode(self):
        c = Client(self.cluster.port)
        self.addCleanup(c.close)
        short = c.json("/t/count")["session"]
        wait_until(lambda: record(self.cluster, short) is not None, 10, "the first checkpoint")
        key = state_keys(self.cluster, short)[0]
        redis_cli(self.cluster, "SET", key, '{"v":1,"app":"testkit","worker":"not a number"}')
        rc, out, err = tetherctl(self.cluster, "session", short)
        self.assertEqual(rc, 0, err)
        self.assertIn("unreadable", out)
        rc, out, err = tetherctl(self.cluster, "--json", "session", short)
        self.assertIn("refused", json.loads(out)["checkpoint"])


class CheckpointConfigTest(unittest.TestCase):
    def test_malformed_options_are_refused_with_the_file_and_the_field(self):
        d = tempfile.mkdtemp(prefix="tether-ckpt-")
        self.addCleanup(shutil.rmtree, d, True)
        key = os.path.join(d, "keys")
        write_key_file(key)
        path = os.path.join(d, "tether.json")
        tetherd = os.path.join(build_dir(), "bin", "tetherd")
        redis = {"host": "127.0.0.1", "port": 1}
        cases = (
            ([{"match": "^/", "session": "notes", "checkpoint": {"every_ms": 50}}], redis, "every_ms"),
            ([{"match": "^/", "session": "notes", "checkpoint": 1000}], redis, "expected an object"),
            ([{"match": "^/", "file": d, "checkpoint": {"every_ms": 1000}}], redis, "only a session rule"),
            ([{"match": "^/", "session": "notes", "checkpoint": {"every_ms": 1000}}], None, "add \"redis\""),
            ([{"match": "^/a", "session": "notes", "checkpoint": {"every_ms": 1000}},
              {"match": "^/", "session": "notes", "checkpoint": {"every_ms": 2000}}], redis, "one interval per app"),
        )
        for routes, r, needle in cases:
            cfg = {"listen": "unix:%s/w{worker}.sock" % d, "key_file": key, "routes": routes,
                   "templates": os.path.join(d)}
            if r:
                cfg["redis"] = r
            with open(path, "w") as f:
                json.dump(cfg, f)
            p = subprocess.run([tetherd, "--config", path, "--check-config"], capture_output=True, text=True,
                               timeout=20)
            self.assertEqual(p.returncode, 2, (needle, p.stderr))
            self.assertIn(path, p.stderr)
            self.assertIn("checkpoint", p.stderr)
            self.assertIn(needle, p.stderr)
        cfg = {"listen": "unix:%s/w{worker}.sock" % d, "key_file": key, "max_snapshot_bytes": 100}
        with open(path, "w") as f:
            json.dump(cfg, f)
        p = subprocess.run([tetherd, "--config", path, "--check-config"], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("max_snapshot_bytes", p.stderr)


if __name__ == "__main__":
    unittest.main()
