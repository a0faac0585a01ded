"""Key rotation on a live cluster (issue 17, item 4): two hosts sharing one
Redis, each with its own key file, under a loop of users whose requests
enter through both hosts' nginx in turn (so every other request is forwarded
across hosts). The documented procedure runs one host at a time, each edit
followed by `tetherctl reload HOST` (SIGHUP over the bus):
  1. add the new key as verify-only everywhere;
  2. make it the sealing key everywhere (the old key marked verify-only);
  3. drop the old key (after lifetime_s: no cookie sealed with it is live).
No user gets a new session, no forwarded request fails (no 403/5xx, no
refused peer connection, lost or failed forward on any worker), `tetherctl keys` shows the expected
ids after every edit, and after step 3 a cookie sealed with the old key is
refused (a new session, reason invalid). A bad key file on reload keeps the
old keys and shows as a failed reload.

Hosts are network namespaces made by the test (netns.py) or, where that is
not possible, distinct loopback addresses (as in test_multihost.py); the
cookie's sealing key is read from the token itself (its first byte names
the key)."""
import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import unittest

from common import Client, Cluster, LoopThread, free_port, stop_pid, tetherctl, wait_until, worker_status
from netns import NetnsHosts

CONFIG = {"heartbeat_ms": 300, "quick_timeout_ms": 800, "request_timeout_s": 20}


def key_id(hex_key):
    """TokenKey::id_hex(): the first byte of the key's BLAKE2b-256 digest."""
    return "%02x" % hashlib.blake2b(bytes.fromhex(hex_key), digest_size=32).digest()[0]


def sealed_by(cookie):
    """The id of the key a token was sealed with (the blob's first byte)."""
    b64 = cookie.split(".", 1)[1]
    return "%02x" % base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))[0]


def two_keys():
    a = secrets.token_hex(32)
    b = secrets.token_hex(32)
    while key_id(b) == key_id(a):
        b = secrets.token_hex(32)
    return a, b


class CrossHostUsers(LoopThread):
    """Users of the test kit's counter, each holding one cookie and sending
    its requests through host A's and host B's nginx in turn, round after
    round on a thread while the with-block runs (bounded: 20000 rounds,
    170 s). Every reply must be a 200 that continues the user's session
    (same session, same owner, the count one up); anything else goes to
    failures."""
    join_s = 30

    def __init__(self, hosts, users):
        self.hosts = hosts
        self.users = []
        self.failures, self.served, self.crossed = [], 0, 0
        for i in range(users):
            clients = [Client(h.port, ip=h.ip) for h in hosts]
            first = clients[i % 2]
            r = first.json("/t/count")
            if r["n"] != 1 or r["reason"] != "new":
                raise AssertionError("a new user's first answer is %r" % r)
            for c in clients:
                c.cookie = first.cookie
            self.users.append({"clients": clients, "session": r["session"], "owner": r["owner"], "n": 1,
                               "turn": i + 1, "cookie": first.cookie})
        self._start_thread()

    def _loop(self):
        deadline = time.monotonic() + 170
        for _ in range(20000):  # bounded in count and time
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            for u in self.users:
                self.one(u)

    def one(self, u):
        entry = u["turn"] % 2
        u["turn"] += 1
        cl = u["clients"][entry]
        try:
            status, _, body = cl.request("/t/count")
        except OSError as e:
            self.failures.append(("error", self.hosts[entry].host, repr(e)))
            return
        if status != 200:
            self.failures.append((status, self.hosts[entry].host, body[:200]))
            return
        r = json.loads(body)
        u["n"] += 1
        self.served += 1
        if not r["owner"].startswith(self.hosts[entry].host + "-"):
            self.crossed += 1  # entered on the other host: forwarded between hosts
        if (r["session"], r["owner"], r["n"], r["reason"]) != (u["session"], u["owner"], u["n"], "new"):
            self.failures.append(("new session", self.hosts[entry].host, u["session"], u["n"], r))
            u["session"], u["owner"], u["n"] = r["session"], r["owner"], r["n"]
        if cl.cookie != u["cookie"]:  # a Set-Cookie: every client of the user takes it
            u["cookie"] = cl.cookie
            for c in u["clients"]:
                c.cookie = cl.cookie

    def close(self):
        for u in self.users:
            for c in u["clients"]:
                c.close()


class RotationScenario:
    """The scenario, on hosts at `ips` (optionally in namespaces `netns`),
    Redis listening on redis_bind."""

    def start(self, ips, redis_bind, netns=(None, None)):
        self.workdir = tempfile.mkdtemp(prefix="tether-keyrot-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        port = free_port()
        self.redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", redis_bind, "--save", "",
                                       "--appendonly", "no", "--protected-mode", "no", "--dir", self.workdir,
                                       "--daemonize", "no"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(stop_pid, self.redis)
        self.old, self.new = two_keys()
        self.old_id, self.new_id = key_id(self.old), key_id(self.new)
        self.hosts = []
        for i, (ip, ns) in enumerate(zip(ips, netns)):
            keys = os.path.join(self.workdir, "keys-%d" % i)  # each host its own file, edited on its own
            self.write_keys(keys, self.old + "\n")
            c = Cluster(workers=2, host="h%s" % "ab"[i], tcp=True, ip=ip, netns=ns, config=CONFIG,
                        redis_addr=(redis_bind, port), key_file=keys)
            self.addCleanup(c.stop)
            self.hosts.append(c)
        wait_until(lambda: self.redis.poll() is None and self.can_ping(redis_bind, port), 10, "redis")
        for c in self.hosts:
            c.start()
        wait_until(lambda: all(worker_status(c, n)["redis"]["workers_known"] == 4 for c in self.hosts
                               for n in c.workers), 15, "every worker to see all 4 workers")

    @staticmethod
    def can_ping(host, port):
        r = subprocess.run(["redis-cli", "-h", host, "-p", str(port), "PING"], capture_output=True, text=True)
        return r.stdout.strip() == "PONG"

    @staticmethod
    def write_keys(path, text):
        tmp = path + ".new"  # as an operator would: write aside, then rename
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    def edit(self, host, text):
        """One step on one host: its key file rewritten, then its workers reload."""
        self.write_keys(host.key_file, text)
        rc, out, err = tetherctl(host, "reload", host.host)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(out.count(" ok "), 2, out)

    def keys(self):
        """tetherctl keys --json: {worker: (sealing, others)} and the whole answer."""
        rc, out, err = tetherctl(self.hosts[0], "--json", "keys")
        answer = json.loads(out)
        return rc, {w["worker"]: (w.get("sealing"), tuple(w.get("others", ()))) for w in answer["workers"]}, answer

    def expect_keys(self, per_host, agree=True):
        """Waits until tetherctl keys shows per_host[i] = (sealing, others) for host i's workers."""
        want = {"%s-%d" % (c.host, n): per_host[i] for i, c in enumerate(self.hosts) for n in range(c.n)}
        seen = []

        def shown():
            seen[:] = [self.keys()]
            return seen[0][1] == want
        wait_until(shown, 10, "tetherctl keys to show %r (last: %r)" % (want, seen))
        rc, _, answer = seen[0]
        self.assertEqual(answer["agree"], agree, answer)
        self.assertEqual((rc, answer["ok"]), (0, True), answer)  # no worker lacks a key another seals with

    def wait_served(self, load, more):
        """Lets the load run `more` requests (in the state the last edit made)."""
        target = load.served + more
        wait_until(lambda: load.served >= target or load.failures, 30, "%d more requests" % more)
        self.assertEqual(load.failures, [])

    def worker_figures(self):
        return [worker_status(c, n) for c in self.hosts for n in c.workers]

    def run_rotation(self):
        a, b = self.hosts
        old, new, oid, nid = self.old, self.new, self.old_id, self.new_id
        self.expect_keys([(oid, ()), (oid, ())])
        first = CrossHostUsers(self.hosts, 8)
        self.addCleanup(first.close)
        self.assertTrue(all(sealed_by(u["cookie"]) == oid for u in first.users))
        with first:
            self.wait_served(first, 40)
            # A bad key file: that host's reload fails, its old keys (and rules) stay.
            self.write_keys(a.key_file, old[:40] + "\n")
            rc, out, err = tetherctl(a, "reload", a.host)
            self.assertEqual(rc, 1, out + err)
            self.assertEqual(out.count("failed"), 2, out)
            self.assertIn("key file", out)
            self.assertNotIn(old[:40], out + err)  # the error never shows key material
            self.assertTrue(all("reload_failed" in a.log(n) for n in a.workers))
            self.wait_served(first, 40)
            self.expect_keys([(oid, ()), (oid, ())])
            self.write_keys(a.key_file, old + "\n")

            # Step 1: the new key verify-only, host A then host B.
            self.edit(a, old + "\n" + new + " verify-only\n")
            self.expect_keys([(oid, (nid,)), (oid, ())])
            self.wait_served(first, 40)
            self.edit(b, old + "\n" + new + " verify-only\n")
            self.expect_keys([(oid, (nid,)), (oid, (nid,))])
            self.wait_served(first, 40)

            # Step 2: the new key seals, the old one verify-only. Halfway,
            # the hosts seal with different keys and tetherctl says so.
            self.edit(a, old + " verify-only\n" + new + "\n")
            self.expect_keys([(nid, (oid,)), (oid, (nid,))], agree=False)
            rc, out, err = tetherctl(a, "keys")
            self.assertEqual(rc, 0, out + err)
            self.assertIn("a rotation step is in progress", out)
            self.wait_served(first, 40)
            self.edit(b, old + " verify-only\n" + new + "\n")
            self.expect_keys([(nid, (oid,)), (nid, (oid,))])
            self.wait_served(first, 40)
        self.assertEqual(first.failures, [])
        self.assertGreater(first.crossed, 100)

        # Users that came after step 2 hold cookies sealed with the new key.
        # Those of the first ones are sealed with the old key: by the
        # procedure, step 3 waits lifetime_s, when they have expired; here
        # they stop instead, and one is kept to show it is refused.
        old_cookie = first.users[0]["cookie"]
        self.assertEqual(sealed_by(old_cookie), oid)
        second = CrossHostUsers(self.hosts, 8)
        self.addCleanup(second.close)
        self.assertTrue(all(sealed_by(u["cookie"]) == nid for u in second.users))
        with second:
            self.wait_served(second, 40)
            # Step 3: the old key dropped, host A then host B.
            self.edit(a, new + "\n")
            self.expect_keys([(nid, ()), (nid, (oid,))])
            self.wait_served(second, 40)
            self.edit(b, new + "\n")
            self.expect_keys([(nid, ()), (nid, ())])
            self.wait_served(second, 40)
        self.assertEqual(second.failures, [])
        self.assertGreater(second.crossed, 40)
        for u in second.users:  # each session still counts on where it was
            r = u["clients"][0].json("/t/count")
            self.assertEqual((r["session"], r["n"], r["reason"]), (u["session"], u["n"] + 1, "new"))

        # No peer connection was refused, no forwarded request lost or broken off, on any worker.
        figures = self.worker_figures()
        self.assertEqual(sum(f["peer"]["refused"] for f in figures), 0, [f["peer"] for f in figures])
        self.assertEqual(sum(f["forward"]["failed"] + f["forward"]["lost"] for f in figures), 0,
                         [f["forward"] for f in figures])
        self.assertGreater(sum(f["forward"]["in"] for f in figures), 100, [f["forward"] for f in figures])

        # A cookie sealed with the dropped key: a new session, reason invalid, on either host.
        for c in self.hosts:
            stale = Client(c.port, ip=c.ip, cookie=old_cookie)
            self.addCleanup(stale.close)
            r = stale.json("/t/count")
            self.assertEqual((r["n"], r["reason"]), (1, "invalid"), r)
            self.assertNotEqual(stale.cookie, old_cookie)
            self.assertEqual(sealed_by(stale.cookie), nid)

        # The wrong procedure: host A made to seal with a key host B lacks.
        # tetherctl keys names both sides of the break and exits 1.
        third, _ = two_keys()
        while key_id(third) == nid:
            third, _ = two_keys()
        self.edit(a, third + "\n")
        wait_until(lambda: self.keys()[1]["ha-0"][0] == key_id(third), 10, "host A to seal with the third key")
        rc, out, err = tetherctl(a, "keys")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("hb-0 lacks key %s" % key_id(third), out)
        self.assertIn("ha-0 lacks key %s" % nid, out)



class NetnsKeyRotationTest(NetnsHosts, RotationScenario, unittest.TestCase):
    fallback = "LoopbackKeyRotationTest"

    def test_rotation_one_host_at_a_time_under_load(self):
        self.start(self.net.ips, self.net.gateway, self.net.ns)
        self.run_rotation()


class LoopbackKeyRotationTest(RotationScenario, unittest.TestCase):
    def test_rotation_one_host_at_a_time_under_load(self):
        self.start(["127.0.0.2", "127.0.0.3"], "127.0.0.1")
        self.run_rotation()


if __name__ == "__main__":
    unittest.main()
