"""The admin page (/tether/admin) in a real browser: headless Chromium loads
it from a test cluster, its script fills the figures, and they match the
JSON status; a screenshot is saved in the test's directory. Also the page's
protection (403 for other addresses, POSTs need X-Tether-Admin)."""
import html.parser
import json
import os
import re
import shutil
import subprocess
import unittest

import fcgi
from common import Client, Cluster, wait_until

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


def request(c, path, method="GET", remote="127.0.0.1", headers=None, body=b""):
    return fcgi.direct(c.worker_addr(0), path, method=method, remote=remote, headers=headers, body=body)


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
        for w in expected["workers"]:
            row = d.rows["%s-%d" % (w["host"], w["worker"])]
            self.assertEqual(int(row["sessions"]), w["sessions"]["live"])
            self.assertEqual(int(row["created"]), w["sessions"]["created"])
            self.assertEqual(int(row["pid"]), w["pid"])
        shot = os.path.join(c.workdir, "admin.png")
        r = subprocess.run([browser] + BROWSER_FLAGS + ["--user-data-dir=" + profile, "--window-size=1100,900",
                                                        "--screenshot=" + shot, c.url("/tether/admin")],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        print("admin page screenshot: %s (%d bytes)" % (shot, os.path.getsize(shot)))

    def test_dns_rebinding_request_through_nginx_is_refused(self):
        # A page of attacker.example whose name now resolves to 127.0.0.1 is
        # same-origin with it: the browser sends its own Host.
        cl = Client(self.c.port)
        status, _, body = cl.request("/tether/admin/drain", "POST", body=b"worker=h1-9",
                                     headers={"Host": "attacker.example", "X-Tether-Admin": "1",
                                              "Content-Type": "application/x-www-form-urlencoded"})
        cl.close()
        self.assertEqual(status, 403, body)

    def test_page_is_protected_like_the_status(self):
        c = self.c
        self.assertEqual(request(c, "/tether/admin").status, 200)
        self.assertIn(b"<canvas", request(c, "/tether/admin").body)
        self.assertNotIn(b"http://", request(c, "/tether/admin").body)  # nothing fetched from elsewhere
        self.assertNotIn(b"https://", request(c, "/tether/admin").body)
        for path in ("/tether/admin", "/tether/admin/status"):
            self.assertEqual(request(c, path, remote="10.1.2.3").status, 403)
        body = b"worker=h1-1"
        self.assertEqual(request(c, "/tether/admin/drain", "POST", body=body).status, 403)  # no X-Tether-Admin
        self.assertEqual(request(c, "/tether/admin/drain", "POST", remote="10.1.2.3", body=body,
                                 headers={"X-Tether-Admin": "1"}).status, 403)
        bad = request(c, "/tether/admin/drain", "POST", body=b"worker=../x", headers={"X-Tether-Admin": "1"})
        self.assertEqual(bad.status, 400)
        r = request(c, "/tether/admin/invalidate", "POST", body=b"group=about", headers={"X-Tether-Admin": "1"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(json.loads(r.body)["invalidated"], True)


if __name__ == "__main__":
    unittest.main()
