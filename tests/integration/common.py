"""Shared pieces of the integration tests: the cluster launcher and an HTTP
client that keeps the tether_sid cookie like a browser."""
import http.client
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "scripts"))

from cluster import Cluster, wait_until, free_port, can_connect, stop_pid, write_key_file, REPO as _  # noqa: E402,F401


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
