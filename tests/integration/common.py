"""Shared pieces of the integration tests: the cluster launcher and an HTTP
client that keeps the tether_sid cookie like a browser."""
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "scripts"))

from cluster import (Cluster, build_dir, can_connect, default_routes, free_port, stop_pid,  # noqa: E402,F401
                     wait_until, without_checkpoints, write_key_file)
if os.environ.get("TETHER_TEST_REDIS") == "sentinel":  # any module against a Sentinel layout (sentinel.py)
    from sentinel import SentinelCluster as Cluster  # noqa: E402,F811


class Client:
    """One browser: a kept-alive HTTP connection to nginx and a cookie."""

    def __init__(self, port, ip="127.0.0.1", cookie=None):
        self.port, self.ip = port, ip
        self.cookie = cookie
        self.conn = None

    def request(self, path, method="GET", body=None, headers=None):
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = "tether_sid=" + self.cookie
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.ip, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # nginx closed an idle kept-alive client connection: reconnect once.
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        for k, v in r.getheaders():
            if k.lower() == "set-cookie" and v.startswith("tether_sid="):
                value = v.split(";", 1)[0][len("tether_sid="):]
                self.cookie = None if "Max-Age=0" in v else value
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def json(self, path, **kw):
        status, _, data = self.request(path, **kw)
        assert status == 200, "%s -> %d %r" % (path, status, data[:200])
        return json.loads(data)

    def close(self):
        if self.conn:
            self.conn.close()


class LoopThread:
    """A client loop (the subclass's _loop, which returns once _stop is set)
    on its own thread while a with-block runs; leaving the block stops it and
    waits at most join_s, then calls done()."""
    join_s = 150

    def _start_thread(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(self.join_s)
        self.done()

    def done(self):
        pass


class CounterLoad(LoopThread):
    """Clients of the test kit's counter (/t/count), each with a session of its
    own, polled round after round in a thread while the with-block runs
    (bounded: 4000 rounds, 120 s). Every reply must be a 200 that keeps the
    client's count and says reason "new"; anything else goes to failures."""

    def __init__(self, port, sessions):
        self.clients = []
        for _ in range(sessions):
            cl = Client(port)
            n = cl.json("/t/count")["n"]
            if n != 1:
                raise AssertionError("a new client's first count is %r, not 1" % n)
            self.clients.append([cl, 1])
        self.failures, self.served = [], 0
        self._start_thread()

    def _loop(self):
        deadline = time.monotonic() + 120
        for _ in range(4000):  # bounded in count and time
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            for entry in self.clients:
                status, _, body = entry[0].request("/t/count")
                if status != 200:
                    self.failures.append((status, body[:200]))
                    continue
                r = json.loads(body)
                entry[1] += 1
                self.served += 1
                if r["n"] != entry[1] or r["reason"] != "new":
                    self.failures.append(("state", entry[1], r))

    def assert_every_session_kept(self, test):
        """After the load: each session still counts on from where it was."""
        for cl, count in self.clients:
            r = cl.json("/t/count")
            test.assertEqual((r["n"], r["reason"]), (count + 1, "new"))

    def close(self):
        for cl, _ in self.clients:
            cl.close()


CLUSTER_PY = os.path.join(REPO, "scripts", "cluster.py")


def make_run(test, prefix, workers=2, stop_timeout=30):
    """What `make run` starts (cluster.py run) in a private run directory on a
    free port: (process, port, env). At the test's cleanup the process is
    stopped by pid if it still runs, then the directory is removed."""
    run_dir = tempfile.mkdtemp(prefix=prefix)
    test.addCleanup(shutil.rmtree, run_dir, True)
    env = dict(os.environ, TETHER_RUN_DIR=run_dir)
    port = free_port()
    proc = subprocess.Popen([sys.executable, CLUSTER_PY, "run", "--port", str(port), "--workers", str(workers)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    test.addCleanup(lambda: proc.poll() is None and stop_pid(proc, timeout=stop_timeout))
    return proc, port, env


def make_stop(test, proc, env, port):
    """`make stop` for what make_run() returned: it must say it stopped, the
    run must exit 0, and its port must be free."""
    out = subprocess.run([sys.executable, CLUSTER_PY, "stop"], env=env, capture_output=True, text=True, timeout=120)
    test.assertIn("stopped", out.stdout)
    test.assertEqual(proc.wait(60), 0)
    test.assertFalse(can_connect("127.0.0.1:%d" % port))


def pid_of(c, n):
    """Worker n's pid, or 0 while it has none (restarting)."""
    try:
        return c.worker_pid(n)
    except (ValueError, OSError):
        return 0


def redis_cli(cluster, *args):
    import subprocess
    return subprocess.run(["redis-cli", "-p", str(cluster.redis_port)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=30).stdout


def session_keys(cluster):
    return [k for k in redis_cli(cluster, "--scan", "--pattern", "tether:session:*").split() if k]


def passthrough_server(port, upstream="tether_all"):
    """An extra nginx server block (for Cluster(nginx_http_extra=...)) that
    sends every request to `upstream`, ignoring the cookie's route: with
    tether_all, nginx round-robin, so most session requests enter a worker
    that must forward them."""
    with open(os.path.join(REPO, "nginx", "tether-location.conf")) as f:
        params = [line for line in f if line.strip() and not line.lstrip().startswith(("#", "fastcgi_pass"))]
    return ("    server {\n        listen 127.0.0.1:%d;\n        location / {\n            fastcgi_pass %s;\n%s"
            "        }\n    }\n") % (port, upstream, "".join("            " + p.strip() + "\n" for p in params))


def worker_status(cluster, n):
    """Worker n's /tether/status figures, asked over its own FastCGI socket."""
    import fcgi
    return json.loads(fcgi.get(cluster.worker_addr(n), "/tether/status").body)


def tetherctl(cluster, *args, timeout=30):
    """Runs tetherctl against the cluster's config: (exit code, stdout, stderr)."""
    import subprocess
    r = subprocess.run([os.path.join(os.path.dirname(cluster.tetherd), "tetherctl"), "--config",
                        cluster.config_path] + list(args), capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def stopped_all(pid):
    """Every thread of pid is in state T (stopped)."""
    states = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
            states.append(f.read().rsplit(")", 1)[1].split()[0])
    return bool(states) and all(s == "T" for s in states)
