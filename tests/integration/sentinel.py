"""The integration tests' Cluster on a Redis Sentinel layout (scripts/
sentinel_layout.py: 1 master, 2 replicas, 3 sentinels on free loopback ports,
short timeouts), the workers configured with "sentinels" and, by default, an
ACL user with tether's least-privilege rule. For the failover tests
(test_redis_failover.py) and to run existing modules unchanged against
Sentinel:

  python3 tests/integration/sentinel.py test_registry [test_other ...]

(the modules' `from common import Cluster` then gets SentinelCluster).
What a test reads as cluster.redis_port / cluster.redis is the master the
sentinels name now, so redis_cli(cluster, ...) follows a failover.
Single-threaded: driven by the test's thread."""
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402  (puts scripts/ on sys.path)
from cluster import Cluster  # noqa: E402
from sentinel_layout import TETHER_ACL, Layout, cli  # noqa: E402,F401

ACL_USER, ACL_PASSWORD = "tether", "tether-test-pw"


class SentinelCluster(Cluster):
    """Cluster whose Redis is a Sentinel layout. acl=False: the workers use
    the default user. layout: share one started by the caller (then not
    stopped here). redis_extra: more keys of the workers' "redis" section."""

    def __init__(self, *args, acl=True, layout=None, redis_extra=None, **kw):
        want = kw.pop("redis", True)
        kw.pop("redis_addr", None)
        super().__init__(*args, redis=False, **kw)
        self.want_sentinel = want
        self.acl = acl
        self.redis_extra = redis_extra or {}
        self.own_layout = layout is None
        self.layout = layout or Layout(workdir=os.path.join(self.workdir, "sentinel"),
                                       acl={ACL_USER: TETHER_ACL.format(password=ACL_PASSWORD)})
        self.layout_started = layout is not None
        self.stopping = False

    # What the tests read as "the" Redis: the master the sentinels name now.
    @property
    def redis_port(self):
        if not self.layout_started:
            return None
        return self.layout.master_port() or self.layout.ports[0]

    @redis_port.setter
    def redis_port(self, _value):
        pass  # set by Cluster.__init__; the layout decides

    @property
    def redis(self):
        if not self.layout_started or self.stopping:
            return None  # Cluster.stop() must not stop the layout's master: stop() below stops the layout
        return self.layout.procs.get(self.redis_port)

    @redis.setter
    def redis(self, _value):
        pass

    def write_config(self):
        super().write_config()  # no "redis" section of its own (redis_port is None before the layout)
        with open(self.config_path) as f:
            cfg = json.load(f)
        section = {k: v for k, v in cfg.get("redis", {}).items() if k not in ("host", "port")}
        section.update(self.layout.redis_section(**self.redis_extra))
        if self.acl:
            section.update(username=ACL_USER, password=ACL_PASSWORD)
        cfg["redis"] = section
        with open(self.config_path, "w") as f:
            json.dump(cfg, f, indent=2)

    def start(self):
        if self.want_sentinel and not self.layout_started:
            self.layout.start()
            self.layout_started = True
        return super().start()

    def start_redis(self):
        """Again after a kill: the data nodes that died come back with their
        config; the sentinels make them replicas of the current master."""
        for port in self.layout.ports:
            proc = self.layout.procs.get(port)
            if proc is None or proc.poll() is not None:
                self.layout.restart(port)

    def stop(self):
        own_workdir, self.own_workdir = self.own_workdir, False  # removed after the layout stops
        self.stopping = True
        try:
            super().stop()
        finally:
            if self.own_layout and self.layout_started:
                self.layout.stop()
                self.layout_started = False
            if own_workdir and not os.environ.get("KEEP_TMP"):
                shutil.rmtree(self.workdir, ignore_errors=True)


def main():
    """Runs the named test modules with SentinelCluster as common.Cluster."""
    import unittest
    common.Cluster = SentinelCluster
    suite = unittest.TestSuite()
    for name in sys.argv[1:]:
        suite.addTests(unittest.defaultTestLoader.loadTestsFromName(name))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)


if __name__ == "__main__":
    main()
