"""Session id rotation and the cookie options, through real nginx, workers
and redis-server.

Rotation (Session::rotate_id, the test kit's /t/rotate): the session keeps its
state under a new cookie, the registry holds the new id and not the old one,
the old cookie gets a new session with reason 'expired', and a rotation run
by a request that another worker forwarded comes back with its Set-Cookie.
Cookie options: cookie_secure "always", cookie_samesite, cookie_host_prefix
show in Set-Cookie, and nginx's generated map routes a __Host- cookie to its
owner (no worker has to forward); a config browsers could not honour is refused."""
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from common import (REPO, Cluster, build_dir, free_port, passthrough_server, redis_cli, session_keys, wait_until,
                    worker_status)


class Browser:
    """One browser: its session cookie under `name`, a request per connection."""

    def __init__(self, port, name="tether_sid", cookie=None):
        self.port, self.name, self.cookie = port, name, cookie
        self.set_cookies = []  # every Set-Cookie header of the session cookie seen

    def request(self, path, keep_cookie=True):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Cookie": "%s=%s" % (self.name, self.cookie)} if self.cookie else {})
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie" and v.startswith(self.name + "="):
                self.set_cookies.append(v)
                if keep_cookie:
                    self.cookie = None if "Max-Age=0" in v else v.split(";", 1)[0][len(self.name) + 1:]
        return r.status, data

    def json(self, path, **kw):
        status, data = self.request(path, **kw)
        assert status == 200, "%s -> %d %r" % (path, status, data[:200])
        return json.loads(data)


def registry_ids(cluster):
    """The session ids (hex) in the registry."""
    return {k.rsplit(":", 1)[1] for k in session_keys(cluster)}


def has_id(cluster, short):
    return any(i.startswith(short) for i in registry_ids(cluster))


def forwarded_out(cluster):
    return sum(worker_status(cluster, n)["forward"]["out"] for n in range(cluster.n))


class RotationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.extra_port = free_port()
        # The pass-through server sends everything to worker 1 (its owner
        # first): a session of worker 0 is forwarded there by worker 1.
        cls.cluster = Cluster(workers=2, config={"heartbeat_ms": 200},
                              nginx_http_extra=passthrough_server(cls.extra_port, "tether_h1_1")).start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def login(self, port=None):
        """A session with 3 requests, then rotated: (browser, before, rotated answer, old cookie)."""
        b = Browser(port or self.cluster.port)
        for _ in range(3):
            before = b.json("/t/count")
        old = b.cookie
        wait_until(lambda: has_id(self.cluster, before["session"]), 10, "the session in the registry")
        rotated = b.json("/t/rotate")
        return b, before, rotated, old

    def test_rotation_keeps_the_state_under_a_new_cookie_and_the_registry_swaps_ids(self):
        b, before, rotated, old = self.login()
        self.assertEqual(rotated["n"], 4)
        self.assertEqual(rotated["session"], before["session"])  # answered before the new id took effect
        self.assertNotEqual(b.cookie, old, b.set_cookies)
        self.assertTrue(b.cookie.startswith(before["owner"] + "."), b.cookie)
        after = b.json("/t/count")
        self.assertEqual(after["n"], 5)
        self.assertEqual(after["owner"], before["owner"])
        self.assertEqual(after["pid"], before["pid"])
        self.assertEqual(after["reason"], before["reason"])
        self.assertEqual(after["requests"], 5)
        self.assertEqual(after["epoch"], 1)
        self.assertNotEqual(after["session"], before["session"])
        self.assertEqual(len(b.set_cookies), 2, b.set_cookies)  # the first request's and the rotation's
        wait_until(lambda: has_id(self.cluster, after["session"]) and not has_id(self.cluster, before["session"]),
                   10, "the registry holds the new id and not the old one")
        new_key = [i for i in registry_ids(self.cluster) if i.startswith(after["session"])][0]
        owner = redis_cli(self.cluster, "HGET", "tether:session:" + new_key, "worker").strip()
        self.assertEqual("h1-" + owner, after["owner"])

    def test_the_old_cookie_gets_a_new_session_with_reason_expired(self):
        b, before, _, old = self.login()
        stale = Browser(self.cluster.port, cookie=old)
        r = stale.json("/t/count")
        self.assertEqual(r["reason"], "expired")
        self.assertEqual(r["n"], 1)
        self.assertNotEqual(r["session"], before["session"])
        self.assertNotEqual(stale.cookie, old)
        self.assertNotEqual(stale.cookie, b.cookie)
        self.assertEqual(b.json("/t/count")["n"], 5)  # the rotated session is untouched

    def test_a_forwarded_rotation_relays_the_new_cookie(self):
        # A session of worker 0, made through the route map.
        b = Browser(self.cluster.port)
        while True:  # bounded: nginx spreads new sessions over 2 workers; a browser tries at most 50
            first = b.json("/t/count")
            if first["owner"] == "h1-0":
                break
            self.assertLess(len(b.set_cookies), 50, "no session landed on worker 0")
            b.cookie = None
        # Worker 1 forwards once its directory lists worker 0 (a peek changes nothing).
        probe = Browser(self.extra_port, cookie=b.cookie)
        wait_until(lambda: probe.json("/t/peek", keep_cookie=False)["owner"] == "h1-0", 10,
                   "worker 1 forwards to worker 0")
        out = worker_status(self.cluster, 1)["forward"]["out"]
        old = b.cookie
        via = Browser(self.extra_port, cookie=b.cookie)
        rotated = via.json("/t/rotate")
        self.assertEqual(rotated["owner"], "h1-0")
        self.assertEqual(rotated["n"], 2)
        self.assertGreater(worker_status(self.cluster, 1)["forward"]["out"], out, "served by forwarding")
        self.assertNotEqual(via.cookie, old, via.set_cookies)
        self.assertTrue(via.cookie.startswith("h1-0."), via.cookie)
        after = Browser(self.cluster.port, cookie=via.cookie).json("/t/count")
        self.assertEqual((after["owner"], after["n"]), ("h1-0", 3))
        self.assertEqual(Browser(self.cluster.port, cookie=old).json("/t/count")["reason"], "expired")


class CookieOptionsTest(unittest.TestCase):
    NAME = "__Host-tether_sid"

    @classmethod
    def setUpClass(cls):
        cls.extra_port = free_port()
        cls.cluster = Cluster(workers=2, config={"cookie_secure": "always", "cookie_samesite": "Strict",
                                                 "cookie_host_prefix": True, "heartbeat_ms": 200},
                              nginx_http_extra=passthrough_server(cls.extra_port, "tether_h1_1")).start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def test_set_cookie_carries_the_options_on_plain_http(self):
        b = Browser(self.cluster.port, self.NAME)
        b.json("/t/count")
        self.assertEqual(len(b.set_cookies), 1)
        attrs = [a.strip() for a in b.set_cookies[0].split(";")]
        self.assertTrue(attrs[0].startswith(self.NAME + "=h1-"), attrs)
        for a in ("Path=/", "HttpOnly", "SameSite=Strict", "Secure"):
            self.assertIn(a, attrs)
        b.json("/t/rotate")
        self.assertEqual(len(b.set_cookies), 2)
        self.assertIn("Secure", [a.strip() for a in b.set_cookies[1].split(";")])

    def test_nginx_routes_the_host_prefixed_cookie_to_its_owner(self):
        owners = set()
        out = forwarded_out(self.cluster)
        for _ in range(8):  # sessions on both workers (nginx spreads new ones)
            b = Browser(self.cluster.port, self.NAME)
            first = b.json("/t/count")
            owners.add(first["owner"])
            for i in range(2, 12):
                r = b.json("/t/count")
                self.assertEqual((r["n"], r["owner"], r["session"]), (i, first["owner"], first["session"]))
        self.assertEqual(owners, {"h1-0", "h1-1"})
        # Round-robin would have sent about half of them to the other worker,
        # which forwards: the map sent every one to its owner.
        self.assertEqual(forwarded_out(self.cluster), out)

    def test_a_forwarded_request_finds_its_session_by_the_prefixed_name(self):
        b = Browser(self.cluster.port, self.NAME)
        for _ in range(50):  # bounded: nginx spreads new sessions over 2 workers
            first = b.json("/t/count")
            if first["owner"] == "h1-0":
                break
            b.cookie = None
        self.assertEqual(first["owner"], "h1-0")
        # Sent to worker 1, which forwards it to worker 0 once its directory lists it.
        via = Browser(self.extra_port, self.NAME, cookie=b.cookie)
        wait_until(lambda: via.json("/t/peek", keep_cookie=False)["owner"] == "h1-0", 10,
                   "worker 1 forwards to worker 0")
        r = via.json("/t/count")
        self.assertEqual((r["owner"], r["n"], r["session"]), ("h1-0", 2, first["session"]))

    def test_the_unprefixed_name_is_not_the_session_cookie(self):
        b = Browser(self.cluster.port, self.NAME)
        first = b.json("/t/count")
        other = Browser(self.cluster.port, "tether_sid", cookie=b.cookie)
        r = other.json("/t/count")
        self.assertEqual(r["reason"], "new")
        self.assertNotEqual(r["session"], first["session"])


class NginxConfCommandTest(unittest.TestCase):
    def test_nginx_conf_for_a_host_prefixed_cookie_reads_the_cookie_header(self):
        script = os.path.join(REPO, "scripts", "cluster.py")
        out = subprocess.run([sys.executable, script, "nginx-conf", "--workers", "2", "--cookie", "__Host-tether_sid"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("map $http_cookie $tether_upstream {", out.stdout)
        self.assertNotIn("$cookie_", out.stdout)
        self.assertIn("__Host-tether_sid=h1-1\\.", out.stdout)
        for bad in ("a-b", "__Host-", "__host-tether_sid", "x;y"):
            r = subprocess.run([sys.executable, script, "nginx-conf", "--cookie", bad], capture_output=True,
                               text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn("--cookie", r.stderr)


class CookieRefusalTest(unittest.TestCase):
    def check(self, fields):
        d = tempfile.mkdtemp(prefix="tether-cookie-")
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "keys"), "w") as f:
            f.write("00" * 32 + "\n")
        os.chmod(os.path.join(d, "keys"), 0o600)
        cfg = {"listen": "unix:%s/w{worker}.sock" % d, "key_file": "keys", "routes": []}
        cfg.update(fields)
        path = os.path.join(d, "tether.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        tetherd = os.path.join(build_dir(), "bin", "tetherd")
        return subprocess.run([tetherd, "--config", path, "--check-config"], capture_output=True, text=True,
                              timeout=30)

    def test_combinations_browsers_drop_are_refused_at_start(self):
        for fields, words in (({"cookie_samesite": "None"}, ["cookie_samesite", "cookie_secure", "always"]),
                              ({"cookie_host_prefix": True}, ["cookie_host_prefix", "cookie_secure"]),
                              ({"cookie_host_prefix": True, "cookie_secure": "always", "cookie_path": "/a/"},
                               ["cookie_host_prefix", "cookie_path"])):
            r = self.check(fields)
            self.assertEqual(r.returncode, 2, (fields, r.stdout, r.stderr))
            for w in words:
                self.assertIn(w, r.stderr, fields)
        ok = self.check({"cookie_samesite": "None", "cookie_secure": "always", "cookie_host_prefix": True})
        self.assertEqual(ok.returncode, 0, ok.stderr)


if __name__ == "__main__":
    unittest.main()
