"""Operating an installed pool (issue 20): tetherctl finds its config
without TETHER_CONFIG (./tether.json, else /etc/tether/tether.json),
`tetherctl keygen` writes a 0600 key whatever the umask and never replaces
one, bad listen_* fields are refused at start with the field named, and
`make run` (cluster.py run) turns the journal on and prints the line that
points tetherctl at the demo."""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from common import (REPO, make_run, make_stop, Client, Cluster, CounterLoad, build_dir, free_port, stop_pid, tetherctl, wait_until,
                    worker_status, write_key_file)

TETHERCTL = os.path.join(build_dir(), "bin", "tetherctl")
TETHERD = os.path.join(build_dir(), "bin", "tetherd")


def env_without_config():
    env = dict(os.environ)
    env.pop("TETHER_CONFIG", None)
    return env


class TetherctlTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tether-deploy-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def ctl(self, *args, env=None):
        return subprocess.run([TETHERCTL] + list(args), capture_output=True, text=True, timeout=30, cwd=self.dir,
                              env=env or env_without_config())

    def test_default_config_is_etc_tether_when_cwd_has_none(self):
        r = self.ctl("workers")
        self.assertEqual(r.returncode, 2)
        if not os.path.exists("/etc/tether/tether.json"):
            self.assertIn("/etc/tether/tether.json: cannot read", r.stderr)

    def test_default_config_is_tether_json_in_cwd(self):
        with open(os.path.join(self.dir, "tether.json"), "w") as f:
            f.write('{"listen": "127.0.0.1:1", "peer_listen": "127.0.0.1:2", "key_file": "keys"}')  # valid, but no "redis"
        r = self.ctl("workers")
        self.assertEqual(r.returncode, 2)
        self.assertIn("tether.json has no \"redis\" object", r.stderr)
        # TETHER_CONFIG still wins.
        env = dict(env_without_config(), TETHER_CONFIG=os.path.join(self.dir, "other.json"))
        self.assertIn("other.json: cannot read", self.ctl("workers", env=env).stderr)

    def test_keygen_writes_0600_key_tetherd_accepts_and_never_overwrites(self):
        key = os.path.join(self.dir, "keys")
        old = os.umask(0)
        try:
            r = self.ctl("keygen", key)
        finally:
            os.umask(old)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        with open(key) as f:
            lines = [line.strip() for line in f if not line.startswith("#")]
        self.assertEqual(len(lines), 1)
        self.assertRegex(lines[0], "^[0-9a-f]{64}$")
        config = os.path.join(self.dir, "t.json")
        with open(config, "w") as f:
            f.write('{"listen": "unix:%s/w{worker}.sock", "key_file": "keys"}' % self.dir)
        r = subprocess.run([TETHERD, "--config", config, "--check-config"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(key) as f:
            before = f.read()
        r = self.ctl("keygen", key)
        self.assertEqual(r.returncode, 1)
        with open(key) as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(self.ctl("keygen").returncode, 2)

    def test_bad_listen_fields_are_refused_with_the_field(self):
        write_key_file(os.path.join(self.dir, "keys"))
        for field, value in (("listen_mode", '"777x"'), ("listen_mode", "660"), ("listen_group", '"a b"'),
                             ("listen_owner", "0")):
            config = os.path.join(self.dir, "bad.json")
            with open(config, "w") as f:
                f.write('{"listen": "unix:%s/w.sock", "key_file": "keys", "%s": %s}' % (self.dir, field, value))
            r = subprocess.run([TETHERD, "--config", config, "--check-config"], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 2, (field, value))
            self.assertIn("field '%s'" % field, r.stdout + r.stderr)


class RollingRestartTest(unittest.TestCase):
    def test_tetherctl_restart_rolling_keeps_every_session_without_a_failure(self):
        cfg = {"heartbeat_ms": 200, "drain_timeout_s": 10, "quick_timeout_ms": 1000}
        with Cluster(workers=3, supervisord=True, config=cfg) as c:
            def all_known():
                try:
                    return all(worker_status(c, k)["redis"]["workers_known"] == 3 for k in range(3))
                except (OSError, EOFError, ValueError, KeyError):
                    return False
            wait_until(all_known, 15, "3 workers in every worker's directory")
            load = CounterLoad(c.port, 9)
            self.addCleanup(load.close)
            with load:
                pids = [c.worker_pid(n) for n in range(3)]
                rc, out, err = tetherctl(c, "restart", "--rolling", timeout=150)
            self.assertEqual(rc, 0, out + err)
            self.assertEqual(out.count("restarted in"), 3, out)
            self.assertEqual(load.failures[:5], [], "%d failures" % len(load.failures))
            self.assertGreater(load.served, 9)
            self.assertTrue(all(c.worker_pid(n) != pids[n] for n in range(3)))
            load.assert_every_session_kept(self)  # not one session lost

    def test_restart_needs_rolling(self):
        with Cluster(workers=1, nginx=False) as c:
            rc, _, err = tetherctl(c, "restart")
            self.assertEqual(rc, 2)
            self.assertIn("--rolling", err)
            rc, _, err = tetherctl(c, "restart", "--rolling")
            self.assertEqual(rc, 1)
            self.assertIn("needs 2 or more", err)


class TwoAppsOneNginxTest(unittest.TestCase):
    def test_app_names_keep_two_pools_apart_in_one_nginx(self):
        d = tempfile.mkdtemp(prefix="tether-apps-")
        self.addCleanup(shutil.rmtree, d, True)
        script = os.path.join(REPO, "scripts", "cluster.py")
        for app in ("notes", "counter"):
            out = subprocess.run([sys.executable, script, "nginx-conf", "--app", app, "--workers", "2", "--sockets",
                                  "/run/tether/%s{n}.sock" % app], capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("map $cookie_tether_sid $%s_upstream {" % app, out.stdout)
            with open(os.path.join(d, app + ".conf"), "w") as f:
                f.write(out.stdout)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("pid %s/nginx.pid;\nevents {}\nhttp {\n include %s/notes.conf;\n include %s/counter.conf;\n"
                    " server { listen 127.0.0.1:%d; server_name notes.example;\n"
                    "   location / { fastcgi_pass $notes_upstream; include /etc/nginx/fastcgi_params; } }\n"
                    " server { listen 127.0.0.1:%d; server_name counter.example;\n"
                    "   location / { fastcgi_pass $counter_upstream; include /etc/nginx/fastcgi_params; } }\n}\n"
                    % (d, d, d, free_port(), free_port()))
        r = subprocess.run(["nginx", "-t", "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        bad = subprocess.run([sys.executable, script, "nginx-conf", "--app", "a b"], capture_output=True, text=True,
                             timeout=30)
        self.assertNotEqual(bad.returncode, 0)


class MakeRunShowsTetherctlTest(unittest.TestCase):
    def test_run_prints_tether_config_and_turns_the_journal_on(self):
        # stop_timeout: it stops supervisord (60 s at most) first.
        proc, port, env = make_run(self, "tether-run-deploy-", stop_timeout=150)
        lines = [proc.stdout.readline() for _ in range(3)]
        export = [line for line in lines if "export TETHER_CONFIG=" in line]
        self.assertEqual(len(export), 1, lines)
        config = export[0].split("TETHER_CONFIG=", 1)[1].split(";", 1)[0]
        ctl_env = dict(env_without_config(), TETHER_CONFIG=config)

        def workers():
            r = subprocess.run([TETHERCTL, "--json", "workers"], capture_output=True, text=True, timeout=30,
                               env=ctl_env)
            return r.returncode == 0 and r.stdout.count('"worker": "h1-') == 2
        wait_until(workers, 20, "tetherctl workers lists both workers")
        cl = Client(port)
        self.addCleanup(cl.close)
        status, _, _ = cl.request("/notes", method="POST", body="text=journalled",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertIn(status, (200, 303))

        def journal_has_workers():
            r = subprocess.run([TETHERCTL, "journal", "status"], capture_output=True, text=True, timeout=30,
                               env=ctl_env)
            return r.returncode == 0 and "h1-" in r.stdout
        wait_until(journal_has_workers, 20, "tetherctl journal status lists the demo's workers")
        make_stop(self, proc, env, port)


if __name__ == "__main__":
    unittest.main()
