"""make install, and an application built outside the tree against what it
installed (issue 20): the installed layout (binaries without debug info, the
split .debug files, headers, libtether.a, tether.pc, conf.d-ready supervisor
program, tmpfiles.d entry, nginx snippets, an example config and a 0600 key
that pass --check-config), then examples/counter built with
`pkg-config --cflags --libs tether` alone, checked and serving a session
straight over its FastCGI socket."""
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import unittest

import fcgi
from common import REPO, build_dir, can_connect, stop_pid, wait_until


def make_env():
    """The environment without the parent make's flags (make test runs us)."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(k, None)
    return env


def sanitizer():
    """build/address -> address: install what this test run was built as."""
    rel = os.path.relpath(build_dir(), REPO)
    return rel.split(os.sep)[1] if rel.startswith("build" + os.sep) else ""


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert r.returncode == 0, "%s -> %d\n%s\n%s" % (" ".join(cmd), r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    return r


def has_debug_info(path):
    out = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True, timeout=60).stdout
    return ".debug_info" in out


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tether-install-")
        cls.prefix = os.path.join(cls.tmp, "usr")
        cls.etc = os.path.join(cls.tmp, "etc")
        cls.var = os.path.join(cls.tmp, "var")
        cls.install = run(["make", "--no-print-directory", "-C", REPO, "install", "SANITIZER=" + sanitizer(),
                           "PREFIX=" + cls.prefix, "SYSCONFDIR=" + cls.etc, "LOCALSTATEDIR=" + cls.var],
                          env=make_env())

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def test_binaries_are_installed_without_debug_info_kept_beside(self):
        for name in ("tetherd", "tetherctl"):
            binary = os.path.join(self.prefix, "bin", name)
            self.assertTrue(os.access(binary, os.X_OK), binary)
            self.assertFalse(has_debug_info(binary), binary + " still carries .debug_info")
            debug = os.path.join(self.prefix, "lib", "debug", self.prefix.lstrip("/"), "bin", name + ".debug")
            self.assertTrue(has_debug_info(debug), debug)
        self.assertFalse(has_debug_info(os.path.join(self.prefix, "lib", "libtether.a")))
        for h in ("app.h", "session.h", "request.h", "response.h", "cache.h", "journal.h"):
            self.assertTrue(os.path.exists(os.path.join(self.prefix, "include", "tether", h)), h)

    def test_conf_d_files_name_installed_paths(self):
        with open(os.path.join(self.prefix, "share", "tether", "supervisor", "tether.conf")) as f:
            program = f.read()
        sections = [line for line in program.splitlines() if line.startswith("[")]
        self.assertEqual(sections, ["[program:tether]"])
        self.assertNotIn("%(here)s", program)
        self.assertIn("command=%s/bin/tetherd --config %s/tether/tether.json --worker %%(process_num)d"
                      % (self.prefix, self.etc), program)
        self.assertIn("stdout_logfile=%s/log/tether/tether_%%(process_num)d.log" % self.var, program)
        self.assertNotIn("@", program.replace("%(", ""))  # every placeholder filled
        self.assertTrue(os.path.isdir(os.path.join(self.var, "log", "tether")))
        with open(os.path.join(self.prefix, "lib", "tmpfiles.d", "tether.conf")) as f:
            self.assertIn("d /run/tether 2750 tether www-data -", f.read())
        with open(os.path.join(self.prefix, "share", "tether", "nginx", "tether-site.conf")) as f:
            site = f.read()
        self.assertIn("include %s/nginx/snippets/tether.conf;" % self.etc, site)
        for snippet in ("tether.conf", "tether-location.conf"):
            self.assertTrue(os.path.exists(os.path.join(self.etc, "nginx", "snippets", snippet)), snippet)

    def test_example_config_and_generated_key_pass_check_config(self):
        keys = os.path.join(self.etc, "tether", "keys")
        self.assertEqual(stat.S_IMODE(os.stat(keys).st_mode), 0o600)
        config = os.path.join(self.etc, "tether", "tether.json")
        r = run([os.path.join(self.prefix, "bin", "tetherd"), "--config", config, "--check-config"])
        self.assertIn("ok", r.stdout + r.stderr)
        # keygen never replaces a key.
        r = subprocess.run([os.path.join(self.prefix, "bin", "tetherctl"), "keygen", keys], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("exists already", r.stderr)

    def test_destdir_stages_without_touching_prefix(self):
        root = self.path("stage")
        run(["make", "--no-print-directory", "-C", REPO, "install", "SANITIZER=" + sanitizer(), "DESTDIR=" + root,
             "PREFIX=/usr", "SYSCONFDIR=/etc", "LOCALSTATEDIR=/var", "SPLIT_DEBUG=0"], env=make_env())
        self.assertTrue(os.path.exists(os.path.join(root, "usr", "bin", "tetherd")))
        self.assertFalse(has_debug_info(os.path.join(root, "usr", "bin", "tetherd")))
        with open(os.path.join(root, "usr", "lib", "pkgconfig", "tether.pc")) as f:
            self.assertIn("prefix=/usr\n", f.read())
        with open(os.path.join(root, "etc", "tether", "tether.json")) as f:
            self.assertIn('"/usr/share/tether/demo/static"', f.read())

    def test_make_deb_packages_the_install_without_a_key(self):
        env = dict(make_env(), DEB_COMPRESS="none")  # xz takes minutes on a busy machine
        out = run(["make", "--no-print-directory", "-C", REPO, "deb", "SANITIZER=" + sanitizer()], env=env).stdout
        deb = [line for line in out.splitlines() if line.endswith(".deb")][-1]
        deb = deb if os.path.isabs(deb) else os.path.join(REPO, deb)
        contents = run(["dpkg-deb", "--contents", deb]).stdout
        paths = [line.split()[-1] for line in contents.splitlines()]
        for p in ("./usr/bin/tetherd", "./usr/bin/tetherctl", "./usr/lib/libtether.a", "./usr/lib/pkgconfig/tether.pc",
                  "./usr/include/tether/app.h", "./usr/lib/tmpfiles.d/tether.conf", "./etc/tether/tether.json",
                  "./usr/share/tether/supervisor/tether.conf", "./etc/nginx/snippets/tether-location.conf"):
            self.assertIn(p, paths)
        self.assertNotIn("./etc/tether/keys", paths)  # each machine makes its own, in postinst
        self.assertFalse([p for p in paths if p.startswith("./etc/supervisor/")])  # disabled until linked
        info = run(["dpkg-deb", "--info", deb]).stdout
        self.assertIn("libsodium", info)
        postinst = run(["dpkg-deb", "--info", deb, "postinst"]).stdout
        self.assertIn("adduser --system", postinst)
        self.assertIn("tetherctl keygen /etc/tether/keys", postinst)
        conffiles = run(["dpkg-deb", "--info", deb, "conffiles"]).stdout
        self.assertIn("/etc/tether/tether.json", conffiles.split())

    def test_counter_example_builds_with_pkg_config_and_serves_a_session(self):
        env = make_env()
        env["PKG_CONFIG_PATH"] = os.path.join(self.prefix, "lib", "pkgconfig")
        flags = run(["pkg-config", "--cflags", "--libs", "tether"], env=env).stdout
        for f in ("-ltether", "-lfcgi", "-lhiredis", "-lsodium", "-lcurl", "-lre2", "-pthread", "-std=c++20",
                  "-I" + os.path.join(self.prefix, "include")):
            self.assertIn(f, flags.split())
        # The copy make install keeps, built outside the tree: only pkg-config knows where tether is.
        app = self.path("counter")
        shutil.copytree(os.path.join(self.prefix, "share", "tether", "examples", "counter"), app)
        run(["make", "--no-print-directory", "-C", app], env=env)

        sock_dir = self.path("run", "tether")  # missing: the worker creates it
        config = os.path.join(app, "test.json")
        with open(config, "w") as f:
            f.write('{"listen": "unix:%s/c{worker}.sock", "listen_mode": "0640", "key_file": "%s",'
                    ' "routes": [{"match": "^/health$", "controller": "health"},'
                    ' {"match": "^/(count|name)?$", "session": "counter"}]}'
                    % (sock_dir, os.path.join(self.etc, "tether", "keys")))
        run([os.path.join(app, "counter"), "--config", config, "--check-config"])
        log = open(self.path("counter.log"), "wb")
        proc = subprocess.Popen([os.path.join(app, "counter"), "--config", config, "--worker", "0"],
                                stdout=log, stderr=log, cwd=app)
        log.close()
        self.addCleanup(stop_pid, proc)
        addr = "unix:%s/c0.sock" % sock_dir

        def up():
            if proc.poll() is not None:
                with open(self.path("counter.log")) as f:
                    raise AssertionError("counter exited %s:\n%s" % (proc.returncode, f.read()[-3000:]))
            return can_connect(addr)
        wait_until(up, 15, "counter on " + addr)

        first = fcgi.get(addr, "/")
        self.assertEqual(first.status, 200, first.raw[:500])
        self.assertIn(b"loaded this page <strong>1</strong>", first.body)  # the template, rendered
        cookie = [c.split(";", 1)[0] for c in first.header("Set-Cookie") if c.startswith("tether_sid=")]
        self.assertEqual(len(cookie), 1, first.headers)
        second = fcgi.get(addr, "/", cookie=cookie[0])
        self.assertIn(b"loaded this page <strong>2</strong>", second.body)  # the same session object
        self.assertEqual(fcgi.get(addr, "/health").body, b"ok\n")
        self.assertEqual(fcgi.get(addr, "/elsewhere").status, 404)
        os.kill(proc.pid, signal.SIGTERM)
        self.assertEqual(proc.wait(30), 0)


if __name__ == "__main__":
    unittest.main()
