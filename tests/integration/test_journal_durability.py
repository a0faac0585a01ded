"""The journal's contract with its store (issue 16, README.md, "What the journal keeps"):
with the journal on, the cluster's Redis runs with AOF (appendfsync everysec)
and every acknowledged entry survives a kill -9 of Redis, stored once; the
worker reads Redis' persistence and shows it; against a Redis without AOF it
warns, or with journal.require_durable_redis refuses to start."""
import signal
import unittest

from common import Client, redis_cli, stop_pid, wait_until, worker_status
from test_journal import append, assert_exactly_once, journal_cluster, members


def count(cluster, key):
    """ZCARD, or -1 while Redis is down or still loading its AOF."""
    try:
        return int(redis_cli(cluster, "ZCARD", key).strip())
    except ValueError:
        return -1


def restart_worker(cluster, n):
    """kill -9 worker n and start it again; its process (it may refuse to start)."""
    cluster.stop_worker(n, signal.SIGKILL)
    cluster.start_worker(n)
    return cluster.workers[n]


class JournalDurabilityTest(unittest.TestCase):
    def test_acknowledged_entries_survive_a_redis_kill_9(self):
        with journal_cluster(workers=1, journal={"backoff_max_ms": 200}) as c:
            st = worker_status(c, 0)["journal"]
            self.assertEqual(st["redis_aof"], "appendfsync everysec")
            self.assertTrue(st["redis_durable"])
            client = Client(c.port)
            for _ in range(5):
                append(client, "aof", 100)
            wait_until(lambda: count(c, "tether:list:aof") == 500, 30, "500 acknowledged entries in Redis")
            stop_pid(c.redis, signal.SIGKILL)
            c.start_redis()  # same port and directory: it reloads its AOF
            wait_until(lambda: count(c, "tether:list:aof") == 500, 30, "the 500 entries after Redis' kill -9")
            append(client, "aof", 100)  # the shipper reconnects and reads the settings again
            wait_until(lambda: count(c, "tether:list:aof") == 600, 30, "600 entries")
            assert_exactly_once(self, members(c, "aof"), 600)
            st = worker_status(c, 0)["journal"]
            self.assertTrue(st["redis_durable"])
            self.assertNotIn("journal_redis_not_durable", c.log(0))

    def test_redis_without_aof_warns(self):
        with journal_cluster(workers=1) as c:
            redis_cli(c, "CONFIG", "SET", "appendonly", "no")
            restart_worker(c, 0)
            c.wait_worker(0)
            st = worker_status(c, 0)["journal"]
            self.assertEqual(st["redis_aof"], "off")
            self.assertFalse(st["redis_durable"])
            self.assertFalse(st["held_not_durable"])
            self.assertEqual(c.log(0).count('"event":"journal_redis_not_durable"'), 1)
            append(Client(c.port), "warned", 10)  # still ships
            wait_until(lambda: count(c, "tether:list:warned") == 10, 30, "10 entries")

    def test_require_durable_redis_refuses_to_start_without_aof(self):
        with journal_cluster(workers=1, journal={"require_durable_redis": True}) as c:
            self.assertTrue(worker_status(c, 0)["journal"]["require_durable_redis"])
            redis_cli(c, "CONFIG", "SET", "appendonly", "no")
            proc = restart_worker(c, 0)
            wait_until(lambda: proc.poll() is not None, 15, "the worker to refuse to start")
            # Exit 1, cleanly: the journal starts before any other service
            # (its early return used to leave the registry's thread waiting on
            # session threads never started: SIGSEGV at exit).
            self.assertEqual(proc.returncode, 1)
            self.assertIn("require_durable_redis is true and Redis runs with appendonly no", c.log(0))
            redis_cli(c, "CONFIG", "SET", "appendonly", "yes")
            c.workers.pop(0)
            c.start_worker(0)
            c.wait_worker(0)
            append(Client(c.port), "required", 10)
            wait_until(lambda: count(c, "tether:list:required") == 10, 30, "10 entries")


if __name__ == "__main__":
    unittest.main()
