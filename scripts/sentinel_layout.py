#!/usr/bin/env python3
"""A Redis Sentinel layout on loopback, all in one directory, every process
stopped by pid: 1 master, 2 replicas and 3 sentinels (redis-server --sentinel,
the program Debian's redis-sentinel links to) with short timeouts, optional
ACL users on every data node. Used by the failover tests
(tests/integration/sentinel.py) and by `REDIS=sentinel make run`.

  sentinel_layout.py run [--dir D] [--ports 6380,6381,6382] [--sentinels 26379,26380,26381]
      start the layout, print tether.json's "redis" section, serve until Ctrl-C
  sentinel_layout.py stop [--dir D]     stop what `run` started (by the pids in D/state.json)

Trigger a failover by hand: redis-cli -p 26379 SENTINEL failover tether
Single-threaded: one Layout is driven by one thread (the test's or the CLI's)."""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from cluster import can_connect, free_port, stop_pid, wait_until

MASTER = "tether"
# Least privilege for tether's own user: its keys and channels (prefix
# "tether:"), every command but the dangerous ones, plus the two dangerous
# ones it uses: CONFIG GET (the journal reads the AOF settings) and ROLE (the
# Sentinel client checks it reached the master). WAIT (journal
# min_replicas_ack) is not in @dangerous. Tried with the whole failover test,
# tetherctl and test_registry (tests/integration/sentinel.py): no NOPERM.
TETHER_ACL = "on >{password} ~tether:* &tether:* +@all -@dangerous +config|get +role"


def cli(port, *args, password=None, user=None, timeout=10):
    """redis-cli against a loopback port: stdout ('' when refused or down)."""
    cmd = ["redis-cli", "-p", str(port)]
    if user:
        cmd += ["--user", user]
    if password:
        cmd += ["--pass", password, "--no-auth-warning"]
    try:
        return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=timeout).stdout
    except subprocess.TimeoutExpired:
        return ""


class Layout:
    """1 master + 2 replicas + 3 sentinels. acl: {user: rule} added to every
    data node (the default user stays, without password, for the sentinels,
    replication and the tests' redis-cli). sentinel_password: the sentinels
    require it (requirepass) and use it among themselves."""

    def __init__(self, workdir=None, ports=None, sentinel_ports=None, master=MASTER, acl=None,
                 down_after_ms=1000, failover_timeout_ms=5000, sentinel_password=None):
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="tether-sentinel-")
        if ports is None or sentinel_ports is None:
            free = set()
            while len(free) < 6:  # six different ports
                free.add(free_port())
            free = sorted(free)
        self.ports = list(ports or free[:3])
        self.sentinel_ports = list(sentinel_ports or free[3:])
        self.master = master
        self.acl = acl or {}
        self.down_after_ms, self.failover_timeout_ms = down_after_ms, failover_timeout_ms
        self.sentinel_password = sentinel_password
        self.procs = {}  # port -> Popen, data nodes and sentinels

    # ---- files
    def node_dir(self, port):
        d = os.path.join(self.workdir, "redis-%d" % port)
        os.makedirs(d, exist_ok=True)
        return d

    def node_conf(self, port, replica_of=None):
        lines = ["port %d" % port, "bind 127.0.0.1", "dir %s" % self.node_dir(port), 'save ""',
                 "appendonly yes", "appendfsync everysec", "daemonize no",
                 # A replica's first sync at once: with the default 5 s delay a
                 # replica "connected" but not yet synced could be promoted empty.
                 "repl-diskless-sync-delay 0",
                 "logfile %s" % os.path.join(self.node_dir(port), "redis.log")]
        if replica_of:
            lines.append("replicaof 127.0.0.1 %d" % replica_of)
        lines += ["user %s %s" % (user, rule) for user, rule in self.acl.items()]
        path = os.path.join(self.node_dir(port), "redis.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def sentinel_conf(self, port):
        d = self.node_dir(port)
        lines = ["port %d" % port, "bind 127.0.0.1", "dir %s" % d, "daemonize no",
                 "logfile %s" % os.path.join(d, "sentinel.log"),
                 "sentinel monitor %s 127.0.0.1 %d 2" % (self.master, self.ports[0]),
                 "sentinel down-after-milliseconds %s %d" % (self.master, self.down_after_ms),
                 "sentinel failover-timeout %s %d" % (self.master, self.failover_timeout_ms),
                 "sentinel parallel-syncs %s 2" % self.master]
        if self.sentinel_password:
            lines += ["requirepass %s" % self.sentinel_password, "sentinel sentinel-pass %s" % self.sentinel_password]
        path = os.path.join(d, "sentinel.conf")  # sentinels rewrite their file: one each
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    # ---- lifecycle
    def spawn(self, port, conf, sentinel=False):
        cmd = ["redis-server", conf] + (["--sentinel"] if sentinel else [])
        self.procs[port] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.procs[port].poll() is None and can_connect("127.0.0.1:%d" % port), 10,
                   "redis-server%s on port %d" % (" --sentinel" if sentinel else "", port))

    def start(self):
        try:
            self.spawn(self.ports[0], self.node_conf(self.ports[0]))
            for p in self.ports[1:]:
                self.spawn(p, self.node_conf(p, replica_of=self.ports[0]))
            wait_until(self.replicas_synced, 20, "both replicas to sync with the master")
            for p in self.sentinel_ports:
                self.spawn(p, self.sentinel_conf(p), sentinel=True)
            wait_until(self.sentinels_agree, 30, "every sentinel to know the master, 2 replicas and 2 sentinels")
        except Exception as e:
            logs = self.log_tails()
            self.stop()
            raise RuntimeError("%s\n%s" % (e, logs)) from e
        return self

    def log_tails(self, lines=8):
        """The last lines of every node's and sentinel's log, and what each sentinel says now."""
        out = []
        for port in self.ports + self.sentinel_ports:
            for name in ("redis.log", "sentinel.log"):
                path = os.path.join(self.workdir, "redis-%d" % port, name)
                if os.path.exists(path):
                    with open(path, errors="replace") as f:
                        out.append("== %d %s\n%s" % (port, name, "".join(f.readlines()[-lines:])))
        for port in self.sentinel_ports:
            out.append("== sentinel %d: %s" % (port, " ".join(self.sentinel(port, "SENTINEL", "master", self.master).split())))
        return "\n".join(out)

    def replicas_synced(self, master=None):
        """Every replica of the master has finished its sync (state=online)."""
        info = cli(master or self.ports[0], "INFO", "replication")
        return info.count("state=online") == len(self.ports) - 1

    def sentinel(self, port, *args):
        return cli(port, *args, password=self.sentinel_password)

    def sentinels_agree(self):
        for p in self.sentinel_ports:
            fields = self.sentinel(p, "SENTINEL", "master", self.master).split("\n")
            info = dict(zip(fields[0::2], fields[1::2]))
            if info.get("num-slaves") != "2" or info.get("num-other-sentinels") != "2" or info.get("flags") != "master":
                return False
        return True

    def master_port(self, sentinel_index=0):
        """The master's port as one sentinel names it now (None if it names none)."""
        out = self.sentinel(self.sentinel_ports[sentinel_index], "SENTINEL", "get-master-addr-by-name",
                            self.master).split()
        return int(out[1]) if len(out) == 2 and out[1].isdigit() else None

    def all_sentinels_name(self, port):
        return all(self.master_port(i) == port for i in range(len(self.sentinel_ports)))

    def role(self, port):
        out = cli(port, "ROLE", timeout=3).split()
        return out[0] if out else None

    def kill(self, port, sig=signal.SIGKILL):
        proc = self.procs.pop(port)
        stop_pid(proc, sig)

    def restart(self, port):
        """A data node killed before comes back with its config (the sentinels
        then make it a replica of the current master)."""
        self.spawn(port, os.path.join(self.node_dir(port), "redis.conf"))

    def redis_section(self, **extra):
        """tether.json's "redis" object for this layout."""
        section = {"sentinels": ["127.0.0.1:%d" % p for p in self.sentinel_ports], "master": self.master}
        if self.sentinel_password:
            section["sentinel_password"] = self.sentinel_password
        section.update(extra)
        return section

    def stop(self):
        for port in self.sentinel_ports + self.ports:
            if port in self.procs:
                stop_pid(self.procs.pop(port))
        if self.own_workdir and not os.environ.get("KEEP_TMP"):
            shutil.rmtree(self.workdir, ignore_errors=True)


# ---- command line: REDIS=sentinel make run
def cmd_run(args):
    state = os.path.join(args.dir, "state.json")
    if os.path.exists(state):
        sys.exit("sentinel_layout: already running? %s exists (stop first)" % state)
    ports = [int(p) for p in args.ports.split(",")]
    sentinels = [int(p) for p in args.sentinels.split(",")]
    busy = [p for p in ports + sentinels if can_connect("127.0.0.1:%d" % p)]
    if busy:
        sys.exit("sentinel_layout: port(s) %s in use" % ", ".join(map(str, busy)))
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    layout = Layout(workdir=args.dir, ports=ports, sentinel_ports=sentinels).start()
    with open(state, "w") as f:
        json.dump({str(p): proc.pid for p, proc in layout.procs.items()}, f)
    print(json.dumps({"redis": layout.redis_section()}, indent=2))
    print("sentinel_layout: master 127.0.0.1:%d, replicas %s, sentinels %s; files in %s" % (
        ports[0], ports[1:], sentinels, args.dir))
    print("sentinel_layout: fail over by hand: redis-cli -p %d SENTINEL failover %s" % (sentinels[0], MASTER))
    print("sentinel_layout: Ctrl-C or `sentinel_layout.py stop` stops it.", flush=True)
    stopping = []
    signal.signal(signal.SIGINT, lambda *a: stopping.append(1))
    signal.signal(signal.SIGTERM, lambda *a: stopping.append(1))
    while not stopping and any(p.poll() is None for p in layout.procs.values()):
        signal.sigtimedwait([signal.SIGINT, signal.SIGTERM], 1.0)
    layout.stop()
    if os.path.exists(state):
        os.unlink(state)


def cmd_stop(args):
    state = os.path.join(args.dir, "state.json")
    if not os.path.exists(state):
        print("sentinel_layout: nothing running (no %s)" % state)
        return
    with open(state) as f:
        for pid in json.load(f).values():
            stop_pid(pid)
    os.unlink(state)
    print("sentinel_layout: stopped")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cmd", choices=["run", "stop"])
    p.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "tether-sentinel"))
    p.add_argument("--ports", default="6380,6381,6382", help="master, replica, replica")
    p.add_argument("--sentinels", default="26379,26380,26381")
    args = p.parse_args()
    {"run": cmd_run, "stop": cmd_stop}[args.cmd](args)


if __name__ == "__main__":
    main()
