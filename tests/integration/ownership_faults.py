"""The faults of the ownership checker (issue 16, item 5), each recorded in
the history's Recorder with the time it acted: kill -9 of a worker, SIGSTOP
past the quick timeout and the heartbeat then SIGCONT, `tetherctl drain`, a
rolling `supervisorctl restart`, Redis slowed for one worker (LatencyProxy,
a TCP proxy between that worker and Redis), Redis killed -9 and restarted on
its port. The cluster runs under supervisord, which restarts a worker that
was killed or drained; each fault waits until the cluster is whole again.

Threads: the caller's thread injects the faults; LatencyProxy runs an accept
thread and two threads per direction of each connection (reader, delayed
writer), all daemons, all ended by close()."""
import json
import os
import queue
import signal
import socket
import threading
import time

from common import Cluster, can_connect, pid_of, stopped_all, tetherctl, wait_until, worker_status


class LatencyProxy:
    """127.0.0.1:port -> 127.0.0.1:upstream, every chunk delivered `delay`
    seconds after it was read (0: at once). Set delay at any time."""

    def __init__(self, upstream):
        self.upstream, self.delay = upstream, 0.0
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock, self.socks, self.closed = threading.Lock(), [], False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream), timeout=2)
                up.settimeout(None)
            except OSError:  # Redis down: the worker sees a closed connection
                down.close()
                continue
            with self.lock:
                self.socks += [down, up]
            for src, dst in ((down, up), (up, down)):
                q = queue.Queue()
                threading.Thread(target=self._read, args=(src, q), daemon=True).start()
                threading.Thread(target=self._write, args=(dst, src, q), daemon=True).start()

    @staticmethod
    def _read(src, q):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            q.put((time.monotonic(), data))
            if not data:
                return

    def _write(self, dst, src, q):
        while True:
            t, data = q.get()
            wait = t + self.delay - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # the latency this proxy exists to add
            try:
                if not data:
                    raise OSError("closed")
                dst.sendall(data)
            except OSError:
                for s in (dst, src):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return

    def close(self):
        self.closed = True
        self.listener.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


class CheckerCluster(Cluster):
    """A Cluster whose worker `proxied` reaches Redis through a LatencyProxy:
    each worker reads its own config file (tether-N.json, the same but for
    that worker's redis port)."""

    def __init__(self, proxied=None, **kw):
        super().__init__(**kw)
        self.proxied, self.proxy = proxied, None

    def worker_config(self, n):
        return os.path.join(self.workdir, "tether-%s.json" % n)

    def write_config(self):
        super().write_config()
        if self.proxied is not None and self.proxy is None:
            self.proxy = LatencyProxy(self.redis_port)
        with open(self.config_path) as f:
            cfg = json.load(f)
        for n in range(self.n):
            mine = json.loads(json.dumps(cfg))
            if n == self.proxied:
                mine["redis"]["port"] = self.proxy.port
            with open(self.worker_config(n), "w") as f:
                json.dump(mine, f, indent=2)

    def worker_cmd(self, n):
        cmd = super().worker_cmd(n)
        cmd[cmd.index(self.config_path)] = self.worker_config("%(process_num)d" if self.use_supervisord else n)
        return cmd

    def stop(self):
        try:
            super().stop()
        finally:
            if self.proxy:
                self.proxy.close()


def all_see(c, n):
    """Every worker reaches Redis and its directory lists n live workers (a
    worker keeps its last directory while Redis is away: both are needed)."""
    try:
        return all(r["up"] and r["workers_known"] == n for r in (worker_status(c, k)["redis"] for k in range(c.n)))
    except (OSError, EOFError, ValueError, KeyError):
        return False


class Faults:
    """Injects faults into a supervisord CheckerCluster c and records them."""

    def __init__(self, c, recorder, hold_s):
        self.c, self.rec, self.hold_s = c, recorder, hold_s

    def route(self, n):
        return "%s-%d" % (self.c.host, n)

    def whole(self, n=None, old_pid=None, timeout=40):
        """Worker n back (a new pid when old_pid), and every worker in every directory."""
        c = self.c
        if n is not None:
            wait_until(lambda: pid_of(c, n) not in (0, old_pid) and can_connect(c.worker_addr(n)), timeout,
                       "worker %d back" % n)
        wait_until(lambda: all_see(c, c.n), timeout, "every worker in every directory")

    def kill9(self, n):
        pid = self.c.worker_pid(n)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        self.whole(n, pid)
        self.rec.fault("kill9", self.route(n), t0, time.monotonic())

    def stop_cont(self, n):
        """SIGSTOP, held hold_s (past the quick timeout and three heartbeats), SIGCONT."""
        pid = self.c.worker_pid(n)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_until(lambda: stopped_all(pid), 10, "every thread of worker %d to stop" % n)
            wait_until(lambda: worker_status(self.c, (n + 1) % self.c.n)["redis"]["workers_known"] == self.c.n - 1,
                       self.hold_s + 15, "worker %d to drop out of the directory" % n)
            time.sleep(max(0.0, t0 + self.hold_s - time.monotonic()))  # the fault: held stopped this long
        finally:
            os.kill(pid, signal.SIGCONT)
        self.whole()
        self.rec.fault("sigstop", self.route(n), t0, time.monotonic())

    def drain(self, n):
        pid = self.c.worker_pid(n)
        t0 = time.monotonic()
        last = []

        def drained():  # "no live worker" (its heartbeat late, Redis slow) changed nothing: ask again
            last[:] = tetherctl(self.c, "drain", self.route(n), "--wait-ms", "20000", timeout=40)
            if last[0] not in (0, 1) or (last[0] == 1 and "no live worker" not in last[2]):
                raise AssertionError("tetherctl drain %s: %d %s %s" % ((self.route(n),) + tuple(last)))
            return last[0] == 0
        wait_until(drained, 20, "tetherctl drain %s to find it live" % self.route(n))
        self.whole(n, pid)
        self.rec.fault("drain", self.route(n), t0, time.monotonic())

    def rolling_restart(self):
        for n in range(self.c.n):
            pid = self.c.worker_pid(n)
            t0 = time.monotonic()
            r = self.c.supervisorctl("restart", "tether:tether_%d" % n)
            if r.returncode != 0:
                raise AssertionError("supervisorctl restart: " + r.stdout + r.stderr)
            self.whole(n, pid)
            self.rec.fault("restart", self.route(n), t0, time.monotonic())

    def redis_slow(self, delay_s, drain=False):
        """Redis answers worker `proxied` delay_s late each way for hold_s;
        with drain, that worker is then drained while its Redis is still slow
        (its registry writes queued behind the hand-over: issue 16's first
        race). A heartbeat round (write, reply, read the directory: about six
        one-way trips) that no longer fits the directory's window of three
        heartbeats makes the worker look silent to the others: then the
        fault is a "redis_stall", which may end its sessions (lost)."""
        hb = self.c.config_extra.get("heartbeat_ms", 1000) / 1000.0
        kind = "redis_slow" if 6 * delay_s + hb < 3 * hb else "redis_stall"
        proxy = self.c.proxy
        t0 = time.monotonic()
        proxy.delay = delay_s
        try:
            time.sleep(self.hold_s)  # the fault: slow this long
            if drain:
                self.drain(self.c.proxied)
        finally:
            proxy.delay = 0.0
        self.whole()
        self.rec.fault(kind, self.route(self.c.proxied), t0, time.monotonic())

    def redis_kill(self):
        """redis-server killed -9, down for hold_s, started again on its port (empty)."""
        c = self.c
        t0 = time.monotonic()
        os.kill(c.redis.pid, signal.SIGKILL)
        c.redis.wait(10)
        time.sleep(self.hold_s)  # the fault: Redis away this long
        c.start_redis()
        self.whole()
        self.rec.fault("redis_kill", "redis", t0, time.monotonic())
