"""Test hosts in network namespaces: a bridge in the root namespace and one
namespace per host, joined by veth pairs, on 10.231.<k>.0/24 (k free). The
test makes them, may cut a host off (`partition`) and removes them all."""
import os
import subprocess
import unittest


def sh(*args):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


class TestNetwork:
    def __init__(self, hosts=2):
        tag = os.getpid() % 10000
        self.bridge = "tthb%d" % tag
        self.ns = ["tth%d-%d" % (tag, i) for i in range(hosts)]
        self.root_if = ["tthr%d_%d" % (tag, i) for i in range(hosts)]
        taken = sh("ip", "-4", "-o", "addr")
        self.k = next(k for k in range(10, 250) if " 10.231.%d." % k not in taken)
        self.gateway = "10.231.%d.1" % self.k
        self.ips = ["10.231.%d.%d" % (self.k, 10 + i) for i in range(hosts)]
        self.made = []

    def up(self):
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        self.made.append(("link", self.bridge))
        sh("ip", "addr", "add", self.gateway + "/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for i, ns in enumerate(self.ns):
            sh("ip", "netns", "add", ns)
            self.made.append(("netns", ns))
            inner = "eth%d" % i
            sh("ip", "link", "add", self.root_if[i], "type", "veth", "peer", "name", inner, "netns", ns)
            self.made.append(("link", self.root_if[i]))
            sh("ip", "link", "set", self.root_if[i], "master", self.bridge)
            sh("ip", "link", "set", self.root_if[i], "up")
            sh("ip", "-n", ns, "addr", "add", self.ips[i] + "/24", "dev", inner)
            sh("ip", "-n", ns, "link", "set", inner, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        return self

    def partition(self, i):
        sh("ip", "link", "set", self.root_if[i], "down")

    def heal(self, i):
        sh("ip", "link", "set", self.root_if[i], "up")

    def down(self):
        for kind, name in reversed(self.made):
            subprocess.run(["ip", "netns", "del", name] if kind == "netns" else ["ip", "link", "del", name],
                           capture_output=True, timeout=30)
        self.made = []


class NetnsHosts:
    """A unittest mixin: cls.net, `hosts` test hosts in network namespaces,
    made once for the class and removed after it. Where they cannot be made
    (no root, no `ip netns`), the class is skipped and the message names
    `fallback`, the class that runs the same scenario on loopback."""
    hosts = 2
    fallback = "the loopback variant"

    @classmethod
    def setUpClass(cls):
        cls.net = TestNetwork(cls.hosts)
        try:
            cls.net.up()
        except (RuntimeError, OSError) as e:
            cls.net.down()
            raise unittest.SkipTest("network namespaces cannot be made here (%s); %s runs the same scenario"
                                    % (e, cls.fallback))

    @classmethod
    def tearDownClass(cls):
        cls.net.down()
