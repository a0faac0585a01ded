"""README "Deploy on a server", in a temporary root: make install, the
supervisor program make install ships (conf.d-ready: appended as is to a
supervisord.conf that has only the [supervisord] part) running the workers
as an unprivileged user, the socket directory as the tmpfiles.d entry makes
it (setgid, group www-data, 2750), and nginx whose workers run as www-data:
a session through nginx works (no 'Permission denied'), and tetherctl finds
./tether.json with no TETHER_CONFIG. Needs root (skipped otherwise)."""
import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import unittest

from common import REPO, Client, can_connect, free_port, stop_pid, wait_until
from cluster import nginx_conf
from test_install import make_env, run, sanitizer

WORKER_USER = "nobody"
NGINX_USER = "www-data"


def have_accounts():
    try:
        pwd.getpwnam(WORKER_USER)
        pwd.getpwnam(NGINX_USER)
        grp.getgrnam(NGINX_USER)
        return True
    except KeyError:
        return False


@unittest.skipUnless(os.geteuid() == 0 and have_accounts(), "needs root and the users nobody and www-data")
class SystemDeployTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tether-sys-")
        os.chmod(self.tmp, 0o755)  # the workers' user and nginx's read what is installed here
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.procs = []
        self.addCleanup(self.stop_all)

    def stop_all(self):
        for p in reversed(self.procs):
            stop_pid(p, timeout=60)

    def p(self, *parts):
        return os.path.join(self.tmp, *parts)

    def test_recipe_serves_a_session_through_nginx_as_www_data(self):
        prefix, etc, var = self.p("usr"), self.p("etc"), self.p("var")
        run(["make", "--no-print-directory", "-C", REPO, "install", "SANITIZER=" + sanitizer(), "PREFIX=" + prefix,
             "SYSCONFDIR=" + etc, "LOCALSTATEDIR=" + var, "TETHER_USER=" + WORKER_USER, "WORKERS=2"],
            env=make_env())
        # Step 2: the key belongs to the workers' user; the socket directory as tmpfiles.d makes it.
        with open(os.path.join(prefix, "lib", "tmpfiles.d", "tether.conf")) as f:
            entry = [line.split() for line in f if line.startswith("d ")][0]
        self.assertEqual(entry[:5], ["d", "/run/tether", "2750", WORKER_USER, NGINX_USER])
        sock_dir = self.p("run", "tether")
        os.makedirs(sock_dir)
        os.chmod(self.p("run"), 0o755)
        shutil.chown(sock_dir, WORKER_USER, NGINX_USER)
        os.chmod(sock_dir, 0o2750)
        shutil.chown(os.path.join(etc, "tether", "keys"), WORKER_USER)
        # The installed config, pointed at this root's sockets and a private redis.
        redis_port = free_port()
        config = os.path.join(etc, "tether", "tether.json")
        with open(config) as f:
            cfg = json.load(f)
        cfg["listen"] = "unix:%s/w{worker}.sock" % sock_dir
        cfg["redis"] = {"host": "127.0.0.1", "port": redis_port}
        with open(config, "w") as f:
            json.dump(cfg, f)
        # Step 3: --check-config as the workers' user.
        run(["runuser", "-u", WORKER_USER, "--", os.path.join(prefix, "bin", "tetherd"), "--config", config,
             "--check-config"])
        os.makedirs(self.p("logs"))
        self.procs.append(subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_until(lambda: can_connect("127.0.0.1:%d" % redis_port), 10, "redis-server")
        # Step 4: the shipped program, unchanged, under a supervisord of our own.
        with open(os.path.join(REPO, "scripts", "supervisord.conf")) as f:
            head = f.read()
        with open(os.path.join(prefix, "share", "tether", "supervisor", "tether.conf")) as f:
            program = f.read()
        sup_conf = self.p("supervisord.conf")
        with open(sup_conf, "w") as f:
            f.write(head + "\n" + program)
        self.procs.append(subprocess.Popen(["supervisord", "-n", "-c", sup_conf], stdout=subprocess.DEVNULL,
                                           stderr=open(self.p("logs", "supervisord.err"), "ab")))
        socks = ["unix:%s/w%d.sock" % (sock_dir, n) for n in range(2)]

        def workers_up():
            logs = [os.path.join(var, "log", "tether", "tether_%d.log" % n) for n in range(2)]
            return all(can_connect(s) for s in socks) or self.fail_if_fatal(logs)
        wait_until(workers_up, 20, "2 workers as %s" % WORKER_USER)
        for s in socks:
            st = os.stat(s[5:])
            self.assertEqual((pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
                              stat.S_IMODE(st.st_mode)), (WORKER_USER, NGINX_USER, 0o660))
        # Step 5: nginx with its workers as www-data, the shipped location include.
        port = free_port()
        d = self.p("nginx")
        os.makedirs(d)
        with open(os.path.join(d, "tether.conf"), "w") as f:
            f.write(nginx_conf("h1", socks))
        temp = "".join("    %s_temp_path %s/%s;\n" % (t, d, t) for t in ("client_body", "fastcgi", "proxy", "uwsgi",
                                                                        "scgi"))
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write("user %s;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n"
                    "events { worker_connections 256; }\nhttp {\n    access_log off;\n%s    include %s/tether.conf;\n"
                    "    server {\n        listen 127.0.0.1:%d;\n        location / { include %s; }\n    }\n}\n"
                    % (NGINX_USER, d, d, temp, d, port,
                       os.path.join(etc, "nginx", "snippets", "tether-location.conf")))
        self.procs.append(subprocess.Popen(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e",
                                            os.path.join(d, "error.log"), "-g", "daemon off;"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_until(lambda: can_connect("127.0.0.1:%d" % port), 10, "nginx")
        cl = Client(port)
        self.addCleanup(cl.close)
        status, _, body = cl.request("/notes", method="POST", body="text=deployed",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        with open(os.path.join(d, "error.log")) as f:
            errors = f.read()
        self.assertIn(status, (200, 303), body[:300] + errors[-1000:].encode())
        self.assertNotIn("Permission denied", errors)
        notes = cl.json("/api/notes")
        self.assertEqual([n["text"] for n in notes["notes"]], ["deployed"])
        # tetherctl with no TETHER_CONFIG, from the config's directory.
        env = dict(os.environ)
        env.pop("TETHER_CONFIG", None)

        def listed():
            r = subprocess.run([os.path.join(prefix, "bin", "tetherctl"), "--json", "workers"], capture_output=True,
                               text=True, timeout=30, cwd=os.path.join(etc, "tether"), env=env)
            return r.returncode == 0 and r.stdout.count('"worker": "h1-') == 2
        wait_until(listed, 15, "tetherctl workers lists 2 workers")

    def fail_if_fatal(self, logs):
        for log in logs:
            if os.path.exists(log):
                with open(log) as f:
                    text = f.read()
                if "listen_failed" in text or "config_error" in text:
                    self.fail("%s:\n%s" % (log, text[-2000:]))
        return False


if __name__ == "__main__":
    unittest.main()
