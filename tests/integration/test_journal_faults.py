"""The journal on a full disk (issue 9's fault list): a journal directory on
a small tmpfs that fills up. Appends fail loudly (503 with the reason, counted),
the worker keeps serving, every acknowledged entry still reaches Redis exactly
once, and appends work again once there is room."""
import json
import os
import subprocess
import tempfile
import unittest

from common import Client, redis_cli, wait_until, worker_status
from test_journal import assert_exactly_once, journal_cluster, members, zcard


class JournalDiskFullTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        self.mnt = tempfile.mkdtemp(prefix="tether-full-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", self.mnt], check=True)

    def tearDown(self):
        subprocess.run(["umount", self.mnt], check=False)
        os.rmdir(self.mnt)

    def fill(self, client):
        """Appends batches of 100 until one fails; bounded (256 KB fills long before 40,000 entries)."""
        acknowledged = 0
        for _ in range(400):
            status, _, body = client.request("/t/journal?domain=full&n=100")
            reply = json.loads(body)
            acknowledged += reply["appended"]
            if status != 200:
                return acknowledged, status, reply
        self.fail("the 256 KB journal disk never filled up")

    def test_full_disk_fails_appends_loudly_and_loses_nothing_acknowledged(self):
        with journal_cluster(workers=1, journal={"dir": self.mnt, "fsync": "always"}) as c:
            client = Client(c.port)
            acknowledged, status, reply = self.fill(client)
            self.assertEqual(status, 503)
            self.assertIn("No space left on device", reply["error"])
            self.assertGreater(acknowledged, 0)
            # The worker still serves other requests.
            self.assertEqual(client.request("/t/count")[0], 200)
            # Every acknowledged entry arrives, once; the failed one is not there.
            wait_until(lambda: zcard(c, "tether:list:full") == acknowledged, 30,
                       "%d acknowledged entries in Redis" % acknowledged)
            assert_exactly_once(self, members(c, "full"), acknowledged)
            # With room again, appends succeed and ship.
            subprocess.run(["mount", "-o", "remount,size=8m", self.mnt], check=True)
            status, _, body = client.request("/t/journal?domain=full&n=10")
            self.assertEqual(status, 200, body)
            wait_until(lambda: zcard(c, "tether:list:full") == acknowledged + 10, 30, "the appends after the disk grew")
            assert_exactly_once(self, members(c, "full"), acknowledged + 10)
            self.assertGreaterEqual(worker_status(c, 0)["journal"]["append_errors"], 1)  # counted
            self.assertIn("journal", redis_cli(c, "--scan", "--pattern", "tether:journal:*"))


if __name__ == "__main__":
    unittest.main()
