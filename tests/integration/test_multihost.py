"""Several hosts sharing one redis-server: each host its own nginx and two
workers listening on TCP. A request entering host A for a session owned on
host B is forwarded to B and served with its state; when B is cut off or its
workers are killed, the next request gets a new session on A, reason 'lost',
within the quick timeout. Hosts are network namespaces made by the test; where
that is not possible, the same scenario runs on distinct loopback addresses."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from common import Client, Cluster, free_port, stop_pid, wait_until, worker_status
from netns import NetnsHosts

CONFIG = {"heartbeat_ms": 300, "quick_timeout_ms": 800, "request_timeout_s": 20}


def start_redis(bind, workdir):
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", bind, "--save", "", "--appendonly", "no",
                             "--dir", workdir, "--protected-mode", "no", "--daemonize", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port


class MultiHostScenario:
    """The scenario, on hosts at `ips` (optionally in namespaces `netns`)."""

    def start(self, ips, redis_bind, netns=(None, None)):
        self.workdir = tempfile.mkdtemp(prefix="tether-multihost-")
        self.redis, port = start_redis(redis_bind, self.workdir)
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.addCleanup(stop_pid, self.redis)
        self.hosts = []
        keys = os.path.join(self.workdir, "keys")  # one cluster: one key file
        for i, (ip, ns) in enumerate(zip(ips, netns)):
            c = Cluster(workers=2, host="h%s" % "ab"[i], tcp=True, ip=ip, netns=ns, config=CONFIG,
                        redis_addr=(redis_bind, port), key_file=keys)
            self.addCleanup(c.stop)
            self.hosts.append(c)
        wait_until(lambda: self.redis.poll() is None and self.can_ping(redis_bind, port), 10, "redis")
        for c in self.hosts:
            c.start()
        wait_until(lambda: all(self.known(c, n) == 4 for c in self.hosts for n in c.workers), 15,
                   "every worker to see all 4 workers")

    def can_ping(self, host, port):
        r = subprocess.run(["redis-cli", "-h", host, "-p", str(port), "PING"], capture_output=True, text=True)
        return r.stdout.strip() == "PONG"

    def known(self, c, n):
        return worker_status(c, n)["redis"]["workers_known"]

    def forward_stats(self, c):
        return [worker_status(c, n)["forward"] for n in c.workers]

    def run_scenario(self, cut_off_b):
        a, b = self.hosts
        on_b = Client(b.port, ip=b.ip)
        self.addCleanup(on_b.close)
        first = on_b.json("/t/count")
        self.assertTrue(first["owner"].startswith("hb-"))
        via_a = Client(a.port, ip=a.ip, cookie=on_b.cookie)
        self.addCleanup(via_a.close)
        for i in range(2, 6):
            r = via_a.json("/t/count")
            self.assertEqual((r["owner"], r["session"], r["n"]), (first["owner"], first["session"], i))
        self.assertGreaterEqual(sum(s["out"] for s in self.forward_stats(a)), 4)
        cut_off_b()
        start = time.monotonic()
        r = via_a.json("/t/count")
        elapsed = time.monotonic() - start
        self.assertEqual((r["reason"], r["n"]), ("lost", 1))
        self.assertTrue(r["owner"].startswith("ha-"), r)
        # Well inside the request timeout (20 s): the quick timeout decided.
        self.assertLess(elapsed, CONFIG["request_timeout_s"] / 2)
        self.assertEqual(via_a.json("/t/count")["n"], 2)  # the new session lives on A


class NetnsHostsTest(NetnsHosts, MultiHostScenario, unittest.TestCase):
    fallback = "LoopbackHostsTest"

    def test_forward_across_hosts_then_partition(self):
        self.start(self.net.ips, self.net.gateway, self.net.ns)
        self.addCleanup(self.net.heal, 1)
        self.run_scenario(lambda: self.net.partition(1))

    def test_forward_across_hosts_then_owner_killed(self):
        self.start(self.net.ips, self.net.gateway, self.net.ns)

        def kill_b():
            for n in list(self.hosts[1].workers):
                os.kill(self.hosts[1].workers[n].pid, signal.SIGKILL)
        self.run_scenario(kill_b)


class LoopbackHostsTest(MultiHostScenario, unittest.TestCase):
    def test_forward_across_loopback_hosts_then_owner_killed(self):
        self.start(["127.0.0.2", "127.0.0.3"], "127.0.0.1")

        def kill_b():
            for n in list(self.hosts[1].workers):
                os.kill(self.hosts[1].workers[n].pid, signal.SIGKILL)
        self.run_scenario(kill_b)


if __name__ == "__main__":
    unittest.main()
