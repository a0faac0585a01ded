"""Two tether applications behind one nginx on ONE server name (issue 20):
each has its own app name (upstreams, map variable), its own cookie_name and
cookie_path, and its own path prefix (/a/, /b/; nginx strips it, the
documented rule of README "Behind your own nginx"). A browser that sends
both cookies to both apps (the worst case: as if the paths overlapped) keeps
one session in each; neither app reads, replaces or clears the other's
cookie."""
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from common import REPO, Cluster, can_connect, free_port, stop_pid, wait_until, worker_status
from cluster import nginx_conf

ROUTES = [{"match": "^/tether/status$", "status": {}}, {"match": "^/t/", "session": "testkit"}]


class Browser:
    """A cookie jar sending every cookie it holds (whatever their paths) and
    recording every Set-Cookie it gets."""

    def __init__(self, port):
        self.port = port
        self.jar = {}
        self.set_cookies = []  # every Set-Cookie header, in order

    def get(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {}
            if self.jar:
                headers["Cookie"] = "; ".join("%s=%s" % kv for kv in sorted(self.jar.items()))
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            body = r.read()
            got = [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
        finally:
            conn.close()
        for v in got:
            name, value = v.split(";", 1)[0].split("=", 1)
            if "Max-Age=0" in v:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        self.set_cookies += got
        return r.status, got, body


def location(prefix, app, upstream=None):
    """The location of one app under a prefix: nginx strips the prefix
    (rules see /t/...), and fastcgi_pass names the app's own map variable
    (or upstream: e.g. a_all, round-robin, so requests need forwarding)."""
    with open(os.path.join(REPO, "nginx", "tether-location.conf")) as f:
        body = f.read().replace("$tether_upstream", upstream or "$%s_upstream" % app)
    return ("        location %s/ {\n            rewrite ^%s(/.*)$ $1 break;\n%s\n        }\n" % (
        prefix, prefix, "\n".join("            " + line for line in body.splitlines() if line.strip()
                                  and not line.startswith("#"))))


class TwoAppsOneHostNameTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tether-two-apps-")
        cls.apps = {}
        try:
            for app in ("a", "b"):
                c = Cluster(workdir=os.path.join(cls.dir, app), workers=2, routes=ROUTES, nginx=False,
                            config={"cookie_name": app + "_sid", "cookie_path": "/%s/" % app})
                os.makedirs(c.workdir)
                cls.apps[app] = c
                c.start()
                # Each worker knows the other (its directory, read each heartbeat) before any forwarding.
                wait_until(lambda: all(worker_status(c, n)["redis"]["workers_known"] == c.n for n in range(c.n)),
                           10, "every worker of %s in each one's directory" % app)
            cls.port, cls.rr_port = free_port(), free_port()
            cls.nginx = cls.start_nginx()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def start_nginx(cls):
        d = os.path.join(cls.dir, "nginx")
        os.makedirs(d)
        includes = ""
        for app, c in cls.apps.items():
            path = os.path.join(d, app + ".conf")
            with open(path, "w") as f:
                f.write(nginx_conf(c.host, [c.worker_addr(n) for n in range(c.n)], app=app, cookie=app + "_sid"))
            includes += "    include %s;\n" % path
        temp = "".join("    %s_temp_path %s/%s;\n" % (t, d, t) for t in ("client_body", "fastcgi", "proxy", "uwsgi",
                                                                           "scgi"))
        user = "user root root;\n" if os.geteuid() == 0 else ""
        conf = (user + "worker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n"
                "events { worker_connections 256; }\nhttp {\n    access_log off;\n%s%s"
                "    server {\n        listen 127.0.0.1:%d;\n        server_name one.example;\n%s%s"
                "    }\n    server {\n        listen 127.0.0.1:%d;\n%s    }\n}\n") % (
                    d, d, temp, includes, cls.port, location("/a", "a"), location("/b", "b"), cls.rr_port,
                    location("/a", "a", "a_all"))
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(conf)
        proc = subprocess.Popen(
            ["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e", os.path.join(d, "error.log"),
             "-g", "daemon off;"], stdout=open(os.devnull, "wb"), stderr=open(os.path.join(d, "stderr.log"), "ab"))
        wait_until(lambda: proc.poll() is None and can_connect("127.0.0.1:%d" % cls.port), 10,
                   "nginx on port %d (see %s/error.log)" % (cls.port, d))
        return proc

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "nginx", None):
            stop_pid(cls.nginx)
        for c in cls.apps.values():
            c.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def count(self, browser, app):
        status, got, body = browser.get("/%s/t/count" % app)
        self.assertEqual(status, 200, body)
        return json.loads(body), got

    def test_each_app_keeps_its_own_session_beside_the_other(self):
        br = Browser(self.port)
        for n in (1, 2, 3):
            state, got = self.count(br, "a")
            self.assertEqual(state["n"], n)
        self.assertEqual(list(br.jar), ["a_sid"])
        self.assertIn("Path=/a/;", br.set_cookies[0] + ";")
        for n in (1, 2):
            state, got = self.count(br, "b")
            self.assertEqual(state["n"], n)
            self.assertEqual(state["reason"], "new")  # a's cookie, sent along, is not b's: not "invalid"
        self.assertEqual(sorted(br.jar), ["a_sid", "b_sid"])
        self.assertTrue(any(v.startswith("b_sid=") and "Path=/b/" in v for v in br.set_cookies))
        a_cookie, b_cookie, seen = br.jar["a_sid"], br.jar["b_sid"], len(br.set_cookies)
        # Alternate: each continues its own count; no cookie is set, replaced or cleared.
        for n in (4, 5):
            self.assertEqual(self.count(br, "a")[0]["n"], n)
            self.assertEqual(self.count(br, "b")[0]["n"], n - 1)
        self.assertEqual(br.set_cookies[seen:], [])
        self.assertEqual(br.jar, {"a_sid": a_cookie, "b_sid": b_cookie})

    def test_the_other_apps_cookie_alone_is_no_session_here(self):
        br = Browser(self.port)
        self.assertEqual(self.count(br, "a")[0]["n"], 1)
        # Only a's cookie, renamed as b's: b refuses it (its own key), makes a new session, and a's stays.
        br2 = Browser(self.port)
        br2.jar["b_sid"] = br.jar["a_sid"]
        state, got = self.count(br2, "b")
        self.assertEqual((state["n"], state["reason"]), (1, "invalid"))
        self.assertEqual(self.count(br, "a")[0]["n"], 2)

    def test_forwarding_between_workers_reads_the_apps_own_cookie(self):
        # nginx round-robin (a_all): about every other request enters the
        # worker that does not own the session and is forwarded to the owner.
        c = self.apps["a"]
        forwarded = sum(worker_status(c, n)["forward"]["in"] for n in range(c.n))
        br = Browser(self.rr_port)
        br.jar["b_sid"] = "h1-0.not-a-token-of-a"  # another app's cookie, sent along
        for n in range(1, 7):
            state, got = self.count(br, "a")
            self.assertEqual(state["n"], n, (state, got, br.set_cookies, c.log(0)[-2000:], c.log(1)[-2000:]))
        self.assertEqual([v.split("=", 1)[0] for v in br.set_cookies], ["a_sid"])  # made once, never reissued
        self.assertGreaterEqual(sum(worker_status(c, n)["forward"]["in"] for n in range(c.n)) - forwarded, 2)

    def live(self, app):
        c = self.apps[app]
        return sum(worker_status(c, n)["sessions"]["live"] for n in range(c.n))

    def test_a_path_the_app_does_not_know_makes_no_session(self):
        before = self.live("a")
        br = Browser(self.port)
        for path in ("/a/t/nosuch", "/a/t/", "/a/t/count/x"):
            status, got, body = br.get(path)
            self.assertEqual(status, 404, body)
            self.assertEqual(got, [], path)  # no cookie: no session
        self.assertEqual(br.jar, {})
        self.assertEqual(self.live("a"), before)
        state, _ = self.count(br, "a")
        self.assertEqual((state["n"], state["reason"]), (1, "new"))
        self.assertEqual(self.live("a"), before + 1)
        # A 404 inside an existing session keeps it and its cookie.
        status, got, _ = br.get("/a/t/nosuch")
        self.assertEqual((status, got), (404, []))
        self.assertEqual(self.count(br, "a")[0]["n"], 2)


if __name__ == "__main__":
    unittest.main()
