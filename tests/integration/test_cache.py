"""The response cache, templates and cluster-wide invalidation, with real
redis-server, nginx and workers (issue 5): a page cached on every worker is
invalidated on all of them by one call (tetherctl, the C++ API, redis-cli);
a bad regex is refused and nothing is invalidated; a worker whose Redis
connection was cut during an invalidation stops serving from cache and serves
fresh content after reconnecting; SIGHUP with a broken rules file keeps the
old rules; templates with a fragment cache; the is_cacheable hook; docroot
sync with tetherctl push-file."""
import json
import os
import re
import signal
import socket
import threading
import unittest

import fcgi
from common import Cluster, free_port, redis_cli, tetherctl, wait_until, worker_status

PAGE_RULES = [
    {"match": "^/tether/status$", "status": {}},
    {"match": "^/kit/page/p/", "controller": "kit_page", "cache": {"type": "persistent", "groups": ["pages"]}},
    {"match": "^/kit/page/t/", "controller": "kit_page", "cache": {"timeout": 3600}},
    {"match": "^/kit/page/anon/", "controller": "kit_page", "cache": {"type": "normal", "hook": "kit_anonymous"}},
    {"match": "^/kit/page/none/", "controller": "kit_page", "cache": "no_cache"},
    {"match": "^/kit/render", "controller": "kit_render", "cache": {"type": "normal", "groups": ["rendered"]}},
    {"match": "^/kit/invalidate$", "controller": "kit_invalidate"},
    {"match": "^/kit/save$", "controller": "kit_save"},
    {"match": "^/about$", "template": {"name": "about", "context": {"site": "kit"}}, "cache": "persistent"},
]

KIT_TEMPLATE = ("<h1>{{headline}}</h1>{{! cache id=kit-side groups=side }}side of render {{n}}{{! /cache }}"
                " body of render {{n}}\n")


def render_count(reply):
    m = re.search(rb"render[= ](\d+)", reply.body)
    assert m, reply.body
    return int(m.group(1))


def get(cluster, n, path, **kw):
    """GET over worker n's own FastCGI socket: (cache header, render count, reply)."""
    r = fcgi.get(cluster.worker_addr(n), path, **kw)
    assert r.status == 200, (r.status, r.body)
    how = r.header("X-Tether-Cache")
    return (how[0] if how else None), render_count(r), r


def wait_cache_ready(cluster):
    """Until every worker's cache follower has reached Redis (before that, requests bypass the cache)."""
    for n in range(cluster.n):
        wait_until(lambda: worker_status(cluster, n)["cache"]["reads_allowed"], 10, "worker %d's cache follower" % n)


def write_templates(workdir):
    d = os.path.join(workdir, "templates")
    os.makedirs(os.path.join(d, "kit"), exist_ok=True)
    with open(os.path.join(d, "kit", "page.mustache"), "w") as f:
        f.write(KIT_TEMPLATE)
    with open(os.path.join(d, "about.mustache"), "w") as f:
        f.write("about {{site}} {{request.path}}\n")
    return d


class CachedEverywhereTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(workers=3, routes=PAGE_RULES)
        cls.cluster.config_extra = {"templates": write_templates(cls.cluster.workdir),
                                    "cache": {"stale_after_ms": 1000}}
        cls.cluster.start()
        wait_cache_ready(cls.cluster)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def warm(self, path):
        """Caches path on every worker; returns each worker's render count."""
        counts = {}
        for n in range(self.cluster.n):
            _, counts[n], _ = get(self.cluster, n, path)
            how, again, _ = get(self.cluster, n, path)
            self.assertEqual((how, again), ("hit", counts[n]), "worker %d did not answer %s from cache" % (n, path))
        return counts

    def wait_fresh_everywhere(self, path, old):
        for n in range(self.cluster.n):
            wait_until(lambda: get(self.cluster, n, path)[1] != old[n], 10,
                       "worker %d to drop %s" % (n, path))

    def assert_still_cached(self, path, old):
        for n in range(self.cluster.n):
            how, count, _ = get(self.cluster, n, path)
            self.assertEqual((how, count), ("hit", old[n]), "worker %d lost %s" % (n, path))

    def test_one_tetherctl_call_invalidates_a_group_on_every_worker(self):
        a, other = self.warm("/kit/page/p/g1"), self.warm("/kit/page/t/g1")
        rc, out, err = tetherctl(self.cluster, "invalidate", "--group", "pages")
        self.assertEqual(rc, 0, err)
        self.assertIn("sent to every worker", out)
        self.wait_fresh_everywhere("/kit/page/p/g1", a)
        self.assert_still_cached("/kit/page/t/g1", other)  # not in the group

    def test_regex_from_the_cpp_api_reaches_every_worker(self):
        a, b = self.warm("/kit/page/p/rx-a"), self.warm("/kit/page/p/rx-b")
        r = fcgi.get(self.cluster.worker_addr(0), "/kit/invalidate", method="POST",
                     body=b"regex=%5EGET+%2Fkit%2Fpage%2Fp%2Frx-a",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r.body)
        self.wait_fresh_everywhere("/kit/page/p/rx-a", a)
        self.assert_still_cached("/kit/page/p/rx-b", b)

    def test_redis_cli_xadd_invalidates_everywhere(self):
        a = self.warm("/kit/page/p/by-hand")
        redis_cli(self.cluster, "XADD", "tether:bus:log", "*", "type", "invalidate", "regex", "by-hand$")
        self.wait_fresh_everywhere("/kit/page/p/by-hand", a)

    def test_invalidate_if_ok_invalidates_only_after_success(self):
        def invalidations(n):
            return worker_status(self.cluster, n)["cache"]["invalidations"]
        before = [invalidations(n) for n in range(self.cluster.n)]
        r = fcgi.get(self.cluster.worker_addr(1), "/kit/save", method="POST", query="status=500")
        self.assertEqual(r.status, 500)
        self.assertEqual(invalidations(1), before[1])  # a failed handler invalidates nothing
        r = fcgi.get(self.cluster.worker_addr(1), "/kit/save", method="POST", query="status=200")
        self.assertEqual(r.status, 200)
        self.assertEqual(invalidations(1), before[1] + 1)  # applied here before the reply
        for n in (0, 2):
            wait_until(lambda: invalidations(n) > before[n], 10, "worker %d to apply the save's invalidation" % n)

    def test_a_bad_regex_is_refused_and_nothing_is_invalidated(self):
        a = self.warm("/kit/page/p/bad-rx")
        rc, out, err = tetherctl(self.cluster, "invalidate", "--regex", "(unclosed")
        self.assertEqual(rc, 2)
        self.assertIn("not a valid regular expression", err)
        self.assertIn("nothing was invalidated", err)
        r = fcgi.get(self.cluster.worker_addr(0), "/kit/invalidate", method="POST", body=b"regex=%28",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 400)
        self.assertIn(b"not a valid regular expression", r.body)
        rc, _, err = tetherctl(self.cluster, "invalidate")
        self.assertEqual(rc, 2)
        self.assertIn("nothing to invalidate", err)
        # One written by hand reaches the workers, who refuse it and count it.
        before = [worker_status(self.cluster, n)["cache"]["bad_messages"] for n in range(self.cluster.n)]
        redis_cli(self.cluster, "XADD", "tether:bus:log", "*", "type", "invalidate", "regex", "[z-a]")
        for n in range(self.cluster.n):
            wait_until(lambda: worker_status(self.cluster, n)["cache"]["bad_messages"] > before[n], 10,
                       "worker %d to refuse the bad regex" % n)
        self.assert_still_cached("/kit/page/p/bad-rx", a)

    def test_lifetimes_and_what_is_never_stored(self):
        how, first, _ = get(self.cluster, 0, "/kit/page/none/x")
        self.assertEqual(get(self.cluster, 0, "/kit/page/none/x")[1], first + 1)  # no_cache: rendered each time
        # POST is never served from cache.
        _, c1, _ = get(self.cluster, 0, "/kit/page/p/post")
        r = fcgi.get(self.cluster.worker_addr(0), "/kit/page/p/post", method="POST")
        self.assertNotEqual(render_count(r), c1)
        # Query strings are part of the key.
        _, q1, _ = get(self.cluster, 0, "/kit/page/p/q", query="a=1")
        how, q2, _ = get(self.cluster, 0, "/kit/page/p/q", query="a=2")
        self.assertEqual(how, "miss")
        self.assertNotEqual(q1, q2)

    def test_is_cacheable_hook_keeps_logged_in_users_out(self):
        _, anon, _ = get(self.cluster, 2, "/kit/page/anon/home")
        self.assertEqual(get(self.cluster, 2, "/kit/page/anon/home")[:2], ("hit", anon))
        how, mine, _ = get(self.cluster, 2, "/kit/page/anon/home", cookie="user=ann")
        self.assertEqual(how, "bypass")
        self.assertNotEqual(mine, anon)
        self.assertEqual(get(self.cluster, 2, "/kit/page/anon/home")[:2], ("hit", anon))  # not overwritten

    def test_template_page_and_fragment_cache(self):
        def page(headline):
            r = fcgi.get(self.cluster.worker_addr(1), "/kit/render", query="h=" + headline)
            m = re.search(rb"side of render (\d+) body of render (\d+)", r.body)
            self.assertTrue(m, r.body)
            return int(m.group(1)), int(m.group(2)), r
        side1, body1, r = page("%3Cb%3E")
        self.assertIn(b"<h1>&lt;b&gt;</h1>", r.body)  # escaped
        self.assertEqual(side1, body1)
        # Another page (another key) reuses the fragment rendered for the first.
        side2, body2, _ = page("two")
        self.assertEqual(side2, side1)
        self.assertGreater(body2, body1)
        redis_cli(self.cluster, "XADD", "tether:bus:log", "*", "type", "invalidate", "groups", "side")
        wait_until(lambda: page("three")[0] != side1, 10, "the fragment to be rendered again")
        r = fcgi.get(self.cluster.worker_addr(1), "/about")
        self.assertEqual(r.body, b"about kit /about\n")
        self.assertEqual(r.header("Content-Type"), ["text/html; charset=utf-8"])

    def test_status_counts_hits_misses_and_invalidations(self):
        before = worker_status(self.cluster, 0)["cache"]
        get(self.cluster, 0, "/kit/page/p/status-x")
        get(self.cluster, 0, "/kit/page/p/status-x")
        after = worker_status(self.cluster, 0)["cache"]
        self.assertEqual(after["hits"], before["hits"] + 1)
        self.assertEqual(after["misses"], before["misses"] + 1)
        self.assertGreater(after["entries"], 0)
        self.assertGreater(after["bytes"], 0)
        self.assertTrue(after["reads_allowed"])


class Proxy:
    """A TCP proxy to Redis for one test host, which the test can cut (close
    every connection and refuse new ones) and restore."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = free_port()
        self.open = True
        self.conns = []
        self.lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", self.port))
        self.server.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()

    def accept(self):
        while not self.stopping:
            try:
                c, _ = self.server.accept()
            except socket.timeout:
                continue
            if not self.open:
                c.close()
                continue
            u = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.open = False
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.conns = []

    def restore(self):
        self.open = True

    def close(self):
        self.stopping = True
        self.cut()
        self.thread.join()
        self.server.close()


class LostStreamTest(unittest.TestCase):
    """Redis restarted empty (AOF off: the invalidation stream is gone), as a
    failover to a replica that had not received it would leave it."""

    def test_a_worker_whose_stream_is_gone_drops_its_cache(self):
        c = Cluster(workers=1, routes=PAGE_RULES, nginx=False).start()
        self.addCleanup(c.stop)
        wait_cache_ready(c)
        rc, _, err = tetherctl(c, "invalidate", "--group", "pages")  # the follower has read from the stream
        self.assertEqual(rc, 0, err)
        wait_until(lambda: worker_status(c, 0)["cache"]["follower"]["entries"] >= 1, 10, "the invalidation read")
        _, first, _ = get(c, 0, "/kit/page/p/lost")
        self.assertEqual(get(c, 0, "/kit/page/p/lost")[:2], ("hit", first))
        os.kill(c.redis.pid, signal.SIGKILL)
        c.redis.wait(10)
        c.start_redis()  # empty: whatever was published meanwhile is unknowable
        wait_until(lambda: worker_status(c, 0)["cache"]["follower"]["lost_track"] >= 1, 15,
                   "the follower to notice its stream is gone (failed before: the cache was kept)")
        wait_cache_ready(c)
        how, after, _ = get(c, 0, "/kit/page/p/lost")
        self.assertEqual(how, "miss")
        self.assertNotEqual(after, first)


class ReconnectTest(unittest.TestCase):
    """Two hosts on one Redis; host h2 reaches it through a proxy the test cuts."""

    def test_cut_worker_stops_serving_from_cache_and_replays_what_it_missed(self):
        a = Cluster(workers=1, host="h1", routes=PAGE_RULES, nginx=False).start()
        proxy = Proxy(a.redis_port)
        b = None
        try:
            b = Cluster(workers=1, host="h2", routes=PAGE_RULES, nginx=False, redis_addr=("127.0.0.1", proxy.port),
                        key_file=a.key_file, config={"cache": {"stale_after_ms": 1000}}).start()
            wait_cache_ready(b)
            _, first, _ = get(b, 0, "/kit/page/p/cut")
            self.assertEqual(get(b, 0, "/kit/page/p/cut")[:2], ("hit", first))
            entries = worker_status(b, 0)["cache"]["follower"]["entries"]

            proxy.cut()
            rc, _, err = tetherctl(a, "invalidate", "--group", "pages")  # h2 cannot hear this now
            self.assertEqual(rc, 0, err)
            # Away longer than stale_after_ms: h2 stops answering from its cache.
            wait_until(lambda: not worker_status(b, 0)["cache"]["reads_allowed"], 10, "h2 to distrust its cache")
            how, during, _ = get(b, 0, "/kit/page/p/cut")
            self.assertEqual(how, "bypass")
            self.assertNotEqual(during, first)

            proxy.restore()
            wait_until(lambda: worker_status(b, 0)["cache"]["follower"]["entries"] > entries, 15,
                       "h2 to replay the invalidation it missed")
            wait_until(lambda: worker_status(b, 0)["cache"]["reads_allowed"], 10, "h2 to trust its cache again")
            how, after, _ = get(b, 0, "/kit/page/p/cut")
            self.assertEqual(how, "miss")  # the entry stored while away went with the replay
            self.assertNotIn(after, (first, during))
            self.assertEqual(get(b, 0, "/kit/page/p/cut")[:2], ("hit", after))
        finally:
            if b:
                b.stop()
            proxy.close()
            a.stop()


class ReloadTest(unittest.TestCase):
    def test_sighup_loads_new_rules_and_keeps_the_old_ones_when_the_file_is_broken(self):
        c = Cluster(workers=1, routes=PAGE_RULES, nginx=False)
        c.config_extra = {"templates": write_templates(c.workdir)}
        c.start()
        try:
            wait_cache_ready(c)
            _, first, _ = get(c, 0, "/kit/page/p/reload")
            self.assertEqual(fcgi.get(c.worker_addr(0), "/hello").status, 404)
            with open(c.config_path) as f:
                good = json.load(f)
            for broken in ('{"routes": [', json.dumps(dict(good, routes=[{"match": "(", "controller": "hello"}])),
                           json.dumps(dict(good, routes=[{"match": "^/", "template": "missing"}]))):
                with open(c.config_path, "w") as f:
                    f.write(broken)
                failures = c.log(0).count("reload_failed")
                os.kill(c.worker_pid(0), signal.SIGHUP)
                wait_until(lambda: c.log(0).count("reload_failed") > failures, 10, "the reload to fail")
                how, count, _ = get(c, 0, "/kit/page/p/reload")
                self.assertEqual((how, count), ("hit", first))  # old rules, cache kept
            good["routes"] = [{"match": "^/hello$", "controller": "hello"}] + PAGE_RULES
            with open(c.config_path, "w") as f:
                json.dump(good, f)
            os.kill(c.worker_pid(0), signal.SIGHUP)
            wait_until(lambda: "\"reloaded\"" in c.log(0), 10, "the reload")
            self.assertEqual(fcgi.get(c.worker_addr(0), "/hello").body, b"hello\n")
            self.assertEqual(get(c, 0, "/kit/page/p/reload")[0], "miss")  # the old rules' pages are gone
            self.assertEqual(c.worker_pid(0), c.workers[0].pid)
        finally:
            c.stop()

    def test_a_cached_session_rule_without_a_hook_is_refused_at_start(self):
        c = Cluster(workers=1, routes=[{"match": "^/", "session": "notes", "cache": "normal"}], nginx=False,
                    redis=False)
        c.write_config()
        try:
            import subprocess
            r = subprocess.run([c.tetherd, "--config", c.config_path, "--check-config"], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 2)
            self.assertIn("routes[0].cache", r.stderr)
            self.assertIn("is_cacheable hook", r.stderr)
        finally:
            c.stop()


class DocrootTest(unittest.TestCase):
    def test_push_file_reaches_every_worker(self):
        c = Cluster(workers=2, routes=[{"match": "^/pushed/(.*)$", "file": "docroot"}], nginx=False)
        c.config_extra = {"cache": {"docroot": "docroot"}}
        os.makedirs(os.path.join(c.workdir, "docroot"))
        c.start()
        try:
            src = os.path.join(c.workdir, "banner.txt")
            with open(src, "w") as f:
                f.write("version 1\n")
            rc, out, err = tetherctl(c, "push-file", src, "--as", "css/banner.txt")
            self.assertEqual(rc, 0, err)
            for n in range(2):
                wait_until(lambda: fcgi.get(c.worker_addr(n), "/pushed/css/banner.txt").body == b"version 1\n", 10,
                           "worker %d to receive the pushed file" % n)
            for bad in ("../escape.txt", "/etc/passwd", "a//b"):
                rc, _, err = tetherctl(c, "push-file", src, "--as", bad)
                self.assertEqual(rc, 2, bad)
                self.assertIn("docroot path", err)
            self.assertFalse(os.path.exists(os.path.join(c.workdir, "escape.txt")))
            rc, _, err = tetherctl(c, "push-file", os.path.join(c.workdir, "missing.txt"))
            self.assertEqual(rc, 1)
            self.assertIn("cannot read", err)
        finally:
            c.stop()


if __name__ == "__main__":
    unittest.main()
