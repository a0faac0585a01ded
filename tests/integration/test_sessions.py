"""Sessions through real nginx and 3 real workers: one owner keeps the state,
concurrent sessions stay apart, bad cookies never adopt an id, ends clear the
cookie, a throwing handler costs one 500."""
import concurrent.futures
import unittest

from common import Client, Cluster, wait_until, worker_status


class SessionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(workers=3).start()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def client(self, cookie=None):
        c = Client(self.cluster.port, cookie=cookie)
        self.addCleanup(c.close)
        return c

    def test_requests_land_on_one_owner_and_keep_state(self):
        c = self.client()
        first = c.json("/t/count")
        self.assertEqual(first["reason"], "new")
        self.assertTrue(c.cookie.startswith(first["owner"] + "."), c.cookie)
        for i in range(2, 21):
            r = c.json("/t/count")
            self.assertEqual(r["n"], i)
            self.assertEqual(r["owner"], first["owner"])
            self.assertEqual(r["pid"], first["pid"])
            self.assertEqual(r["session"], first["session"])

    def test_cookie_attributes(self):
        c = self.client()
        _, headers, _ = c.request("/t/count")
        cookie = headers["set-cookie"]
        for attr in ("Path=/", "HttpOnly", "SameSite=Lax"):
            self.assertIn(attr, cookie)
        self.assertNotIn("Secure", cookie)  # plain HTTP here

    def test_200_concurrent_sessions_keep_separate_state(self):
        clients = [Client(self.cluster.port) for _ in range(200)]
        rounds = 8

        def one_round(c):
            return c.json("/t/count")

        seen = {i: [] for i in range(200)}
        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            for _ in range(rounds):
                # Every round interleaves all 200 sessions across 32 threads.
                for i, r in enumerate(pool.map(one_round, clients)):
                    seen[i].append(r)
        for c in clients:
            c.close()
        sessions = set()
        owners = set()
        for i, rs in seen.items():
            self.assertEqual([r["n"] for r in rs], list(range(1, rounds + 1)), "session %d" % i)
            self.assertEqual(len({r["session"] for r in rs}), 1)
            sessions.add(rs[0]["session"])
            owners.add(rs[0]["owner"])
        self.assertEqual(len(sessions), 200)
        self.assertEqual(owners, {"h1-0", "h1-1", "h1-2"})  # nginx spreads new sessions

    def test_tampered_cookie_gets_a_new_session_with_reason_invalid(self):
        c = self.client()
        c.json("/t/count")
        good = c.cookie
        # Flip one character in the middle of the sealed part.
        i = len(good) - 10
        bad = good[:i] + ("A" if good[i] != "A" else "B") + good[i + 1:]
        t = self.client(cookie=bad)
        r = t.json("/t/count")
        self.assertEqual(r["reason"], "invalid")
        self.assertEqual(r["n"], 1)
        self.assertNotEqual(t.cookie, bad)
        # The real owner's state is untouched.
        self.assertEqual(self.client(cookie=good).json("/t/count")["n"], 2)

    def test_client_chosen_cookie_is_never_adopted(self):
        for forged in ("h1-0.AAAA", "h1-1." + "A" * 80, "nonsense", "h1-0."):
            t = self.client(cookie=forged)
            r = t.json("/t/count")
            self.assertEqual(r["reason"], "invalid", forged)
            self.assertNotEqual(t.cookie, forged)

    def test_ended_session_gets_expired_and_a_new_id(self):
        c = self.client()
        c.json("/t/count")
        old = c.cookie
        status, headers, _ = c.request("/t/end")
        self.assertEqual(status, 200)
        self.assertIn("Max-Age=0", headers["set-cookie"])
        self.assertIsNone(c.cookie)
        replay = self.client(cookie=old)  # a client replaying the old token
        r = replay.json("/t/count")
        self.assertEqual(r["reason"], "expired")
        self.assertEqual(r["n"], 1)
        self.assertNotEqual(replay.cookie, old)

    def test_handler_exception_gives_500_and_the_session_lives_on(self):
        c = self.client()
        c.json("/t/count")
        status, _, _ = c.request("/t/throw")
        self.assertEqual(status, 500)
        self.assertEqual(c.json("/t/count")["n"], 2)

    def test_demo_notes_page_and_json(self):
        c = self.client()
        status, _, body = c.request("/notes", method="POST", body="text=hello+%3Cscript%3E",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 303)
        status, _, page = c.request("/")
        self.assertEqual(status, 200)
        self.assertIn(b"hello &lt;script&gt;", page)  # escaped
        notes = c.json("/api/notes")
        self.assertEqual([n["text"] for n in notes["notes"]], ["hello <script>"])
        status, _, err = c.request("/api/notes", method="POST", body="{not json",
                                   headers={"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertIn(b"error", err)
        self.assertEqual(len(c.json("/api/notes")["notes"]), 1)  # nothing lost or added

    def test_stateless_controller(self):
        c = self.client()
        status, headers, body = c.request("/hello")
        self.assertEqual((status, body), (200, b"hello\n"))
        self.assertNotIn("set-cookie", headers)  # no session made

    def test_static_file_and_404(self):
        c = self.client()
        status, headers, body = c.request("/static/style.css")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/css"))
        self.assertIn(b"font-family", body)
        self.assertEqual(c.request("/static/nope.css")[0], 404)


class LifetimeTest(unittest.TestCase):
    def test_session_ends_at_its_lifetime_even_when_used(self):
        with Cluster(workers=1, config={"idle_timeout_s": 1, "lifetime_s": 2}) as c:
            cl = Client(c.port)
            self.addCleanup(cl.close)
            first = cl.json("/t/count")
            token = cl.cookie
            seen = []

            def expired():
                # Used well within the idle timeout each time, so only the lifetime can end it.
                cl.cookie = token
                r = cl.json("/t/count")
                seen.append(r)
                return r["reason"] == "expired"
            wait_until(expired, 10, "the lifetime to end the session")
            self.assertEqual(seen[-1]["n"], 1)
            self.assertNotEqual(seen[-1]["session"], first["session"])
            self.assertTrue(all(r["session"] == first["session"] for r in seen[:-1]))
            self.assertNotEqual(cl.cookie, token)
            status = worker_status(c, 0)
            self.assertEqual(status["sessions"]["ended"]["lifetime"], 1)


if __name__ == "__main__":
    unittest.main()
