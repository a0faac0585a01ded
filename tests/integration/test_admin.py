"""The admin page (/tether/admin) in a real browser: headless Chromium loads
it from a test cluster, its script fills the figures, and they match the
JSON status; a screenshot is saved in the test's directory. Also the page's
protection: 403 for other addresses and for a Host not in the rule's
"hosts" (DNS rebinding), and POSTs need a same-origin request and the
page's CSRF token (X-Tether-CSRF), which verifies on every worker."""
import html.parser
import json
import os
import re
import shutil
import subprocess
import unittest

import fcgi
from common import Client, Cluster, wait_until, worker_status

BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--virtual-time-budget=5000"]


class Dom(html.parser.HTMLParser):
    """Texts by element id, and the cells of each worker row by class."""

    def __init__(self):
        super().__init__()
        self.by_id, self.rows = {}, {}
        self.stack = []  # (tag, id, class, worker)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        worker = a.get("data-worker") or (self.stack[-1][3] if self.stack else None)
        self.stack.append((tag, a.get("id"), a.get("class"), worker))

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data):
        if not self.stack:
            return
        tag, ident, cls, worker = self.stack[-1]
        if ident:
            self.by_id[ident] = self.by_id.get(ident, "") + data
        if worker and cls and tag == "td":
            self.rows.setdefault(worker, {})[cls] = data


def request(c, path, method="GET", remote="127.0.0.1", headers=None, body=b"", worker=0):
    return fcgi.direct(c.worker_addr(worker), path, method=method, remote=remote, headers=headers, body=body)


TOKEN = re.compile(rb'<meta name="tether-csrf" content="([A-Za-z0-9_-]+)">')


def page_token(body):
    m = TOKEN.search(body)
    assert m, body[:500]
    return m.group(1).decode()


def refused(c, kind):
    """How often the workers counted a refusal of kind."""
    return sum(worker_status(c, n)["errors"]["refused"].get(kind, 0) for n in range(2))


class AdminPageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(workers=2, config={"heartbeat_ms": 200}).start()  # default routes have the admin rule

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def test_page_in_headless_chromium_matches_the_json_status(self):
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if not browser:
            self.skipTest("chromium is not installed (scripts/install-deps.sh installs the Debian package)")
        c = self.c
        for _ in range(5):
            cl = Client(c.port)
            cl.json("/t/count")
            cl.close()

        def status():
            return json.loads(request(c, "/tether/admin/status").body)
        wait_until(lambda: status()["total"]["sessions"]["live"] == 5 and
                   all("requests" in w for w in status()["workers"]) and len(status()["workers"]) == 2
                   and sum(w["sessions"]["live"] for w in status()["workers"]) == 5, 15,
                   "the 5 sessions in every worker's heartbeat")
        expected = status()
        profile = os.path.join(c.workdir, "chromium-profile")
        dom = subprocess.run([browser] + BROWSER_FLAGS + ["--user-data-dir=" + profile, "--dump-dom",
                                                          c.url("/tether/admin")],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(dom.returncode, 0, dom.stderr[-2000:])
        d = Dom()
        d.feed(dom.stdout)
        self.assertNotEqual(d.by_id.get("updated"), "never", "the page's script did not run:\n" + dom.stdout[:3000])
        self.assertEqual(d.by_id["host"], "h1")
        self.assertEqual(d.by_id["worker-count"], "2")
        self.assertEqual(int(d.by_id["total-sessions"]), expected["total"]["sessions"]["live"])
        self.assertEqual(int(d.by_id["total-created"]), expected["total"]["sessions"]["created"])
        # Sessions recovered after a worker died (none here: the figure is filled, 0); hibernated ones
        # only once the workers report them.
        self.assertEqual(int(d.by_id["total-recovered"]), expected["total"]["sessions"]["recovered"])
        if isinstance(expected["total"]["sessions"].get("hibernated"), int):
            self.assertEqual(int(d.by_id["total-hibernated"]), expected["total"]["sessions"]["hibernated"])
        else:
            self.assertEqual(d.by_id["total-hibernated"], "-")
        for w in expected["workers"]:
            row = d.rows["%s-%d" % (w["host"], w["worker"])]
            self.assertEqual(int(row["sessions"]), w["sessions"]["live"])
            self.assertEqual(int(row["created"]), w["sessions"]["created"])
            self.assertEqual(int(row["recovered"]), w["sessions"]["recovered"])
            self.assertEqual(int(row["pid"]), w["pid"])
        shot = os.path.join(c.workdir, "admin.png")
        r = subprocess.run([browser] + BROWSER_FLAGS + ["--user-data-dir=" + profile, "--window-size=1100,900",
                                                        "--screenshot=" + shot, c.url("/tether/admin")],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        print("admin page screenshot: %s (%d bytes)" % (shot, os.path.getsize(shot)))

    def post(self, path, body, headers):
        """A POST through nginx, with the headers given."""
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers)
        cl = Client(self.c.port)
        try:
            return cl.request(path, "POST", body=body, headers=h)
        finally:
            cl.close()

    def test_dns_rebinding_request_through_nginx_is_refused(self):
        # A page of attacker.example whose name now resolves to 127.0.0.1 is
        # same-origin with it: the browser sends its own Host. (200 before.)
        before = refused(self.c, "admin.bad_host")
        status, _, body = self.post("/tether/admin/drain", b"worker=h1-9",
                                    {"Host": "attacker.example", "X-Tether-Admin": "1"})
        self.assertEqual(status, 403, body)
        self.assertIn(b"attacker.example", body)
        self.assertIn(b'"hosts"', body)  # says how to add a name
        # Nor can that page read a token: the admin page is refused to it too.
        cl = Client(self.c.port)
        status, _, page = cl.request("/tether/admin", headers={"Host": "attacker.example:%d" % self.c.port})
        cl.close()
        self.assertEqual(status, 403, page)
        self.assertNotIn(b"tether-csrf", page)
        self.assertEqual(refused(self.c, "admin.bad_host") - before, 2)

    def test_a_spoofed_remote_addr_through_the_peer_listener_reaches_no_admin_action(self):
        # A direct FastCGI client picks REMOTE_ADDR=127.0.0.1 and a loopback
        # Host: nginx's listener is a unix socket nginx alone may reach, and
        # the peer listener takes nothing but the peer handshake.
        before = refused(self.c, "peer.bad_hello")
        p = fcgi.http_params(method="POST", path="/tether/admin/drain", body=b"worker=h1-0",
                             headers={"Host": "127.0.0.1", "X-Tether-Admin": "1"})
        p["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        for n in range(self.c.n):
            self.assertTrue(fcgi.refused_by_peer_listener(self.c.peer_addr(n), fcgi.request_bytes(p, b"worker=h1-0")))
        wait_until(lambda: refused(self.c, "peer.bad_hello") - before == self.c.n, 10, "the refusals counted")
        # Nothing drained: each worker still runs, under its first pid.
        self.assertEqual([worker_status(self.c, n)["pid"] for n in range(self.c.n)],
                         [self.c.workers[n].pid for n in range(self.c.n)])

    def test_status_with_a_foreign_host_is_refused(self):
        cl = Client(self.c.port)
        try:
            status, _, body = cl.request("/tether/status")
            self.assertEqual(status, 200, body)  # Host 127.0.0.1:port
            status, _, body = cl.request("/tether/status", headers={"Host": "localhost:%d" % self.c.port})
            self.assertEqual(status, 200, body)
            before = refused(self.c, "status.bad_host") + refused(self.c, "admin.bad_host")
            for host in ("attacker.example", "attacker.example:%d" % self.c.port, "127.0.0.1.nip.io"):
                status, _, body = cl.request("/tether/status", headers={"Host": host})
                self.assertEqual(status, 403, (host, body))
                status, _, body = cl.request("/tether/admin/status", headers={"Host": host})
                self.assertEqual(status, 403, (host, body))
            self.assertEqual(refused(self.c, "status.bad_host") + refused(self.c, "admin.bad_host") - before, 6)
        finally:
            cl.close()

    def test_a_post_with_the_pages_token_succeeds_on_every_worker(self):
        origin = {"Origin": "http://127.0.0.1:%d" % self.c.port, "Sec-Fetch-Site": "same-origin"}
        cl = Client(self.c.port)
        status, headers, page = cl.request("/tether/admin")
        cl.close()
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("x-frame-options"), "DENY")
        token = page_token(page)
        for _ in range(4):  # nginx spreads them over both workers
            status, _, body = self.post("/tether/admin/invalidate", b"group=about",
                                        dict(origin, **{"X-Tether-CSRF": token}))
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["invalidated"], True)
        status, _, body = self.post("/tether/admin/drain", b"worker=h1-9", dict(origin, **{"X-Tether-CSRF": token}))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["drain"], "h1-9")
        # The page from one worker, the POST to the other (what nginx may do).
        for page_from, post_to in ((0, 1), (1, 0)):
            t = page_token(request(self.c, "/tether/admin", worker=page_from).body)
            r = request(self.c, "/tether/admin/invalidate", "POST", body=b"group=about",
                        headers={"X-Tether-CSRF": t}, worker=post_to)
            self.assertEqual(r.status, 200, r.body)

    def test_a_cross_site_post_is_refused(self):
        cl = Client(self.c.port)
        token = page_token(cl.request("/tether/admin")[2])
        cl.close()
        before = refused(self.c, "admin.cross_site")
        for headers in ({"Origin": "http://attacker.example"},
                        {"Origin": "http://localhost:%d" % self.c.port},  # another name, another origin
                        {"Origin": "null"},
                        {"Sec-Fetch-Site": "cross-site"},
                        {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:%d" % self.c.port}):
            status, _, body = self.post("/tether/admin/drain", b"worker=h1-9",
                                        dict(headers, **{"X-Tether-CSRF": token}))
            self.assertEqual(status, 403, (headers, body))
        self.assertEqual(refused(self.c, "admin.cross_site") - before, 5)

    def test_a_post_without_a_valid_token_is_refused(self):
        before = refused(self.c, "admin.bad_csrf")
        for headers in ({}, {"X-Tether-Admin": "1"}, {"X-Tether-CSRF": "A" * 75}, {"X-Tether-CSRF": "x"}):
            status, _, body = self.post("/tether/admin/drain", b"worker=h1-9", headers)
            self.assertEqual(status, 403, (headers, body))
            self.assertIn(b"reload the page", body)
        self.assertEqual(refused(self.c, "admin.bad_csrf") - before, 4)

    def test_page_is_protected_like_the_status(self):
        c = self.c
        self.assertEqual(request(c, "/tether/admin").status, 200)
        self.assertIn(b"<canvas", request(c, "/tether/admin").body)
        self.assertNotIn(b"http://", request(c, "/tether/admin").body)  # nothing fetched from elsewhere
        self.assertNotIn(b"https://", request(c, "/tether/admin").body)
        for path in ("/tether/admin", "/tether/admin/status"):
            self.assertEqual(request(c, path, remote="10.1.2.3").status, 403)
        token = {"X-Tether-CSRF": page_token(request(c, "/tether/admin").body)}
        body = b"worker=h1-1"
        self.assertEqual(request(c, "/tether/admin/drain", "POST", body=body).status, 403)  # no token
        self.assertEqual(request(c, "/tether/admin/drain", "POST", remote="10.1.2.3", body=body,
                                 headers=token).status, 403)
        bad = request(c, "/tether/admin/drain", "POST", body=b"worker=../x", headers=token)
        self.assertEqual(bad.status, 400)
        r = request(c, "/tether/admin/invalidate", "POST", body=b"group=about", headers=token)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(json.loads(r.body)["invalidated"], True)


if __name__ == "__main__":
    unittest.main()
