"""Worker lifecycle: SIGTERM drains requests in flight without a 5xx and
hands the sessions over to another worker, bad
configuration is refused with file and field, supervisord runs the pool,
and `cluster.py run` (what `make run` calls) serves the demo and stops."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

import fcgi
from common import (REPO, make_run, make_stop, build_dir, can_connect, Client, Cluster,
                    free_port, stop_pid, wait_until, worker_status, write_key_file)


class DrainTest(unittest.TestCase):
    def test_sigterm_finishes_requests_in_flight_and_exits_0(self):
        with Cluster(workers=3, config={"drain_timeout_s": 15}) as c:
            # Hand-over needs the other workers in worker 1's directory (read each heartbeat).
            wait_until(lambda: worker_status(c, 1)["redis"]["workers_known"] == 3, 15, "3 workers known")
            # A session owned by worker 1, to check the owner-gone path after.
            owned = Client(c.port)
            self.addCleanup(owned.close)
            while owned.json("/t/count")["owner"] != "h1-1":
                owned.cookie = None
            slow = {}

            def slow_request(i):
                slow[i] = fcgi.get(c.worker_addr(1), "/t/slow", query="ms=1500")
            slow_threads = [threading.Thread(target=slow_request, args=(i,)) for i in range(2)]
            for t in slow_threads:
                t.start()
            # Both slow requests are inside the worker (the status request counts itself).
            wait_until(lambda: worker_status(c, 1)["requests"]["in_flight"] >= 3, 10, "slow requests in flight")

            load_codes, stop_load = [], threading.Event()

            def load():
                cl = Client(c.port)
                for _ in range(3000):  # bounded; stopped as soon as the drain is over
                    if stop_load.is_set():
                        break
                    cl.cookie = None  # new sessions: nginx picks any live worker
                    load_codes.append(cl.request("/t/count")[0])
                cl.close()
            loader = threading.Thread(target=load)
            loader.start()
            os.kill(c.workers[1].pid, signal.SIGTERM)
            for t in slow_threads:
                t.join(30)
            code = c.workers[1].wait(30)
            stop_load.set()
            loader.join(60)
            self.assertEqual(code, 0, c.log(1)[-2000:])
            self.assertEqual(sorted(r.status for r in slow.values()), [200, 200])
            self.assertGreater(len(load_codes), 0)
            self.assertEqual([x for x in load_codes if x != 200], [])
            self.assertIn('"event":"stopped"', c.log(1))
            self.assertFalse(os.path.exists(c.worker_addr(1)[5:]), "socket file left behind")
            # The session was handed over before its owner left: same state, another worker.
            r = owned.json("/t/count")
            self.assertEqual(r["reason"], "new")
            self.assertEqual(r["n"], 2)
            self.assertNotEqual(r["owner"], "h1-1")
            self.assertIn('"event":"sessions_handed_over"', c.log(1))
            del c.workers[1]


class ConfigErrorTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tether-cfg-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.key = os.path.join(self.dir, "keys")
        write_key_file(self.key)
        self.tetherd = os.path.join(build_dir(), "bin", "tetherd")

    def run_tetherd(self, cfg, *args):
        path = os.path.join(self.dir, "tether.json")
        with open(path, "w") as f:
            f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))
        return subprocess.run([self.tetherd, "--config", path] + list(args), capture_output=True, text=True,
                              timeout=20)

    def good(self, **over):
        cfg = {"listen": "unix:%s/w{worker}.sock" % self.dir, "key_file": self.key,
               "routes": [{"match": "^/", "session": "notes"}]}
        cfg.update(over)
        return cfg

    def assert_refused(self, result, *needles):
        self.assertEqual(result.returncode, 2, result.stderr)
        for n in needles:
            self.assertIn(n, result.stderr)

    def test_valid_config_checks_ok(self):
        r = self.run_tetherd(self.good(), "--check-config")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_missing_file(self):
        r = subprocess.run([self.tetherd, "--config", "/nonexistent/tether.json"], capture_output=True, text=True)
        self.assert_refused(r, "/nonexistent/tether.json")

    def test_bad_json(self):
        self.assert_refused(self.run_tetherd('{"listen": '), "tether.json", "not valid JSON")

    def test_wrong_type_and_unknown_field(self):
        self.assert_refused(self.run_tetherd(self.good(session_threads="two")), "session_threads", "integer")
        self.assert_refused(self.run_tetherd(self.good(sesion_threads=2)), "sesion_threads", "unknown field")

    def test_unknown_session_app_and_bad_rule(self):
        r = self.run_tetherd(self.good(routes=[{"match": "^/", "session": "nope"}]))
        self.assert_refused(r, "routes[0].session", "unknown session app 'nope'", "notes")
        self.assert_refused(self.run_tetherd(self.good(routes=[{"match": "(", "session": "notes"}])),
                            "routes[0].match")
        # A pattern std::regex took and RE2 refuses: named at start, with RE2's reason.
        self.assert_refused(self.run_tetherd(self.good(routes=[{"match": "^/(?=x)", "session": "notes"}])),
                            "tether.json", "routes[0].match", "^/(?=x)", "invalid perl operator")

    def test_key_file_readable_by_others_or_missing(self):
        os.chmod(self.key, 0o644)
        self.assert_refused(self.run_tetherd(self.good()), "chmod 600")
        self.assert_refused(self.run_tetherd(self.good(key_file="/nonexistent/keys")), "/nonexistent/keys")

    def test_bad_flag(self):
        self.assert_refused(self.run_tetherd(self.good(), "--worker", "x"), "--worker", "expected a whole number")
        self.assert_refused(self.run_tetherd(self.good(), "--wroker", "1"), "unknown option --wroker")

    def test_socket_in_use_by_a_live_worker(self):
        with Cluster(workers=1, nginx=False, redis=False) as c:
            r = subprocess.run([c.tetherd, "--config", c.config_path, "--worker", "0"], capture_output=True,
                               text=True, timeout=20)
            self.assertEqual(r.returncode, 1)
            self.assertIn("another process is listening", r.stderr)
            self.assertEqual(fcgi.get(c.worker_addr(0), "/t/count").status, 200)  # the live one is untouched


class SupervisordTest(unittest.TestCase):
    def test_supervisord_runs_the_pool_and_stops_a_worker_cleanly(self):
        with Cluster(workers=2, supervisord=True) as c:
            cl = Client(c.port)
            self.addCleanup(cl.close)
            owners = set()
            for _ in range(6):
                cl.cookie = None
                owners.add(cl.json("/t/count")["owner"])
            self.assertEqual(owners, {"h1-0", "h1-1"})
            pid = c.worker_pid(0)
            out = c.supervisorctl("stop", "tether:tether_0")
            self.assertIn("stopped", out.stdout)
            self.assertIn('"event":"stopped"', c.log(0))
            self.assertRaises(ProcessLookupError, os.kill, pid, 0)
            out = c.supervisorctl("start", "tether:tether_0")
            self.assertIn("started", out.stdout)
            wait_until(lambda: can_connect(c.worker_addr(0)), 15, "worker 0 back")


    def test_a_sanitizer_report_in_a_worker_log_fails_the_cluster(self):
        # A sanitizer build's worker writes its report to its log, and
        # supervisord would restart it: stop() must still notice.
        c = Cluster(workers=1, supervisord=True, redis=False, nginx=False).start()
        c.reports_dir = tempfile.mkdtemp(prefix="tether-reports-")
        self.addCleanup(shutil.rmtree, c.reports_dir, True)
        wait_until(lambda: '"event":"listening"' in c.log(0), 15, "worker 0 listening")
        with open(c.log_path(0), "a") as f:
            f.write("==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010\n")
        with self.assertRaises(AssertionError) as e:
            c.stop()
        self.assertIn("tether_0.log", str(e.exception))
        self.assertEqual(len(os.listdir(c.reports_dir)), 1)
        self.assertIsNone(c.supervisord, "everything was stopped before the failure")


class ShippedFilesTest(unittest.TestCase):
    def test_shipped_nginx_conf_is_what_the_generator_makes(self):
        out = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "cluster.py"), "nginx-conf"],
                             capture_output=True, text=True, check=True).stdout
        with open(os.path.join(REPO, "nginx", "tether.conf")) as f:
            self.assertEqual(f.read(), out, "regenerate: scripts/cluster.py nginx-conf > nginx/tether.conf")

    def test_shipped_nginx_files_pass_nginx_t(self):
        d = tempfile.mkdtemp(prefix="tether-nginx-t-")
        self.addCleanup(shutil.rmtree, d, True)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("pid %s/nginx.pid;\nevents {}\nhttp {\n include %s/nginx/tether.conf;\n"
                    " server { listen 127.0.0.1:%d; location / { include %s/nginx/tether-location.conf; } }\n}\n"
                    % (d, REPO, free_port(), REPO))
        r = subprocess.run(["nginx", "-t", "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)


class MakeRunTest(unittest.TestCase):
    def test_cluster_run_serves_the_demo_and_stop_stops_it(self):
        proc, port, env = make_run(self, "tether-run-test-")
        line = proc.stdout.readline()
        self.assertIn("http://127.0.0.1:%d/" % port, line)
        cl = Client(port)
        status, _, page = cl.request("/")
        cl.close()
        self.assertEqual(status, 200)
        self.assertIn(b"Notes", page)
        make_stop(self, proc, env, port)


if __name__ == "__main__":
    unittest.main()
