"""The FastCGI side of real workers: malformed records, cgi-fcgi, bodies at
and beyond the cap, kept-alive connections that must not starve new ones,
and path traversal below nginx."""
import json
import os
import socket
import struct
import subprocess
import threading
import unittest

import fcgi
from common import Client, Cluster, worker_status

MAX_BODY = 65536


class FcgiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(workers=3, config={"max_body_bytes": MAX_BODY}).start()
        cls.addr = cls.cluster.worker_addr(0)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def assert_worker_serves(self):
        self.assertIsNone(self.cluster.workers[0].poll(), "worker 0 died:\n" + self.cluster.log(0)[-2000:])
        self.assertEqual(fcgi.get(self.addr, "/t/count").status, 200)
        c = Client(self.cluster.port)
        self.addCleanup(c.close)
        self.assertEqual(c.request("/t/count")[0], 200)

    def send_raw(self, data):
        """Sends bytes, half-closes, and reads whatever comes back until EOF."""
        s = fcgi.connect(self.addr, timeout=10)
        got = b""
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        finally:
            s.close()
        return got

    def test_malformed_records_are_refused_and_the_worker_keeps_serving(self):
        begin = fcgi.record(fcgi.BEGIN_REQUEST, 1, struct.pack(">HB5x", fcgi.RESPONDER, 0))
        params = fcgi.stream(fcgi.PARAMS, 1, fcgi.encode_params(fcgi.http_params(path="/t/count")))
        cases = {
            "plain HTTP": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "zero bytes": b"\0" * 64,
            "bad version": fcgi.record(fcgi.BEGIN_REQUEST, 1, struct.pack(">HB5x", 1, 0), version=9),
            "unknown role": fcgi.record(fcgi.BEGIN_REQUEST, 1, struct.pack(">HB5x", 7, 0)),
            "truncated record": struct.pack(">BBHHBx", 1, fcgi.BEGIN_REQUEST, 1, 100, 0) + b"x" * 10,
            "name length 4 GiB": begin + fcgi.record(fcgi.PARAMS, 1, struct.pack(">II", 0xffffffff, 0xffffffff)),
            "value longer than record": begin + fcgi.record(fcgi.PARAMS, 1, struct.pack(">BI", 5, 0x8fffffff) + b"a"),
            "params never end": begin + fcgi.record(fcgi.PARAMS, 1, fcgi.encode_params({"A": "b"})),
            "stdin for another request": begin + params + fcgi.record(fcgi.STDIN, 2, b"zz"),
            "unknown record type": fcgi.record(11, 0, b"abc"),
        }
        for name, data in cases.items():
            with self.subTest(name):
                reply = self.send_raw(data)
                if reply:
                    # Anything said back must be well-formed FastCGI.
                    self.assertEqual(reply[0], 1, reply[:16])
                self.assert_worker_serves()

    def test_client_gone_before_the_body_ends(self):
        """A peer that sends the head of a request and then closes."""
        data = fcgi.request_bytes(fcgi.http_params("POST", "/t/echo", body=b"x" * 1000), b"")
        data = data[:-8] + fcgi.record(fcgi.STDIN, 1, b"x" * 100)  # 100 of 1000 bytes, no end
        s = fcgi.connect(self.addr)
        s.sendall(data)
        s.close()
        reply = self.send_raw(fcgi.request_bytes(fcgi.http_params("POST", "/t/echo", body=b"abc"), b"abc"))
        self.assertIn(b"Status: 200", reply)
        self.assert_worker_serves()

    def test_cgi_fcgi_from_libfcgi_bin(self):
        env = dict(os.environ, REQUEST_METHOD="POST", REQUEST_URI="/t/echo?x=1", DOCUMENT_URI="/t/echo",
                   QUERY_STRING="x=1", CONTENT_LENGTH="11", CONTENT_TYPE="text/plain", REMOTE_ADDR="127.0.0.1")
        out = subprocess.run(["cgi-fcgi", "-bind", "-connect", self.addr[len("unix:"):]], input=b"hello world",
                             env=env, capture_output=True, timeout=20)
        self.assertIn(b"Status: 200", out.stdout)
        self.assertIn(b'"len":11', out.stdout)
        self.assertIn(b'"query":"x=1"', out.stdout)

    def test_long_names_and_values_over_127_bytes(self):
        long_value = "v" * 5000
        reply = fcgi.get(self.addr, "/t/echo", query="q=" + long_value, headers={"X-" + "L" * 300: "y" * 300})
        self.assertEqual(reply.status, 200)
        self.assertIn(long_value.encode(), reply.body)

    def test_body_at_the_cap_is_served_and_beyond_it_gets_413(self):
        conn = fcgi.Connection(self.addr)
        self.addCleanup(conn.close)
        r = conn.request(method="POST", path="/t/echo", body=b"a" * (MAX_BODY + 1))
        self.assertEqual(r.status, 413)
        # Same kept-alive connection: the rest of the big body did not leak into it.
        r = conn.request(method="POST", path="/t/echo", body=b"b" * MAX_BODY)
        self.assertEqual(r.status, 200)
        self.assertIn(b'"len":%d' % MAX_BODY, r.body)
        self.assertIn(b'"sum":%d' % (MAX_BODY * ord("b")), r.body)
        # Through nginx too, and the worker goes on.
        c = Client(self.cluster.port)
        self.addCleanup(c.close)
        self.assertEqual(c.request("/t/echo", method="POST", body=b"c" * (MAX_BODY * 4))[0], 413)
        status, _, body = c.request("/t/echo", method="POST", body=b"d" * 1000)
        self.assertEqual(status, 200)
        self.assertIn(b'"len":1000', body)

    def test_declared_length_beyond_the_cap_is_refused_before_reading(self):
        params = fcgi.http_params("POST", "/t/echo")
        params["CONTENT_LENGTH"] = str(10 ** 12)
        reply = self.send_raw(fcgi.request_bytes(params, b"tiny"))
        self.assertIn(b"Status: 413", reply)
        self.assert_worker_serves()

    def test_path_traversal_below_nginx_is_refused(self):
        for doc in ("/static/../../../../etc/passwd", "/static/..", "/static/./../x"):
            with self.subTest(doc):
                self.assertEqual(fcgi.get(self.addr, doc).status, 404)
        # No DOCUMENT_URI: tether decodes REQUEST_URI itself.
        params = fcgi.http_params(path="/static/x")
        del params["DOCUMENT_URI"]
        params["REQUEST_URI"] = "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd"
        self.assertIn(b"Status: 404", self.send_raw(fcgi.request_bytes(params)))


class KeepAliveTest(unittest.TestCase):
    """Worker 1 has a hard cap of THREADS acceptor threads: idle kept-alive
    connections give their thread back after keepalive_idle_s. Worker 0 may
    grow its pool: idle connections cost it nothing."""

    THREADS = 4

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(workers=2, nginx_workers=2,
                              config={"acceptor_threads": cls.THREADS, "keepalive_idle_s": 1}).start()
        # Worker 1 again, capped (it reads the same file, so restart it with a cap).
        cls.cluster.stop_worker(1)
        with open(cls.cluster.config_path) as f:
            capped = json.load(f)
        capped["max_acceptor_threads"] = cls.THREADS
        capped_path = os.path.join(cls.cluster.workdir, "capped.json")
        with open(capped_path, "w") as f:
            json.dump(capped, f)
        log = open(cls.cluster.log_path(1), "ab")
        cls.cluster.workers[1] = subprocess.Popen(
            [cls.cluster.tetherd, "--config", capped_path, "--worker", "1"], stdout=log, stderr=log)
        cls.cluster.wait_worker(1)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def hold_idle(self, n, worker=1):
        conns = []
        for _ in range(n):
            c = fcgi.Connection(self.cluster.worker_addr(worker), timeout=20)
            self.assertEqual(c.request(keep_conn=True, path="/t/count").status, 200)
            conns.append(c)
        for c in conns:
            self.addCleanup(c.close)
        return conns

    def test_one_free_thread_serves_new_connections(self):
        self.hold_idle(self.THREADS - 1)
        for _ in range(5):
            self.assertEqual(fcgi.get(self.cluster.worker_addr(1), "/t/count").status, 200)

    def test_a_growing_pool_serves_past_many_idle_connections(self):
        self.hold_idle(self.THREADS * 3, worker=0)
        for _ in range(5):
            self.assertEqual(fcgi.get(self.cluster.worker_addr(0), "/t/count").status, 200)
        status = worker_status(self.cluster, 0)
        self.assertGreater(status["acceptor_threads"]["running"], self.THREADS * 3)

    def test_idle_connections_are_closed_so_new_ones_are_served(self):
        idle = self.hold_idle(self.THREADS)  # every thread holds an idle connection
        result = {}
        t = threading.Thread(target=lambda: result.update(r=fcgi.get(self.cluster.worker_addr(1), "/t/count")))
        t.start()
        t.join(30)
        self.assertFalse(t.is_alive(), "a new connection starved behind idle kept-alive ones")
        self.assertEqual(result["r"].status, 200)
        closed = 0
        for c in idle:
            try:
                c.sock.settimeout(10)
                if c.sock.recv(1) == b"":
                    closed += 1
            except OSError:
                closed += 1
        self.assertGreaterEqual(closed, 1)

    def test_nginx_keepalive_under_load_never_stalls_new_requests(self):
        errors = []

        def browse(i):
            c = Client(self.cluster.port)
            try:
                for _ in range(20):
                    status = c.request("/t/count")[0]
                    if status != 200:
                        errors.append(status)
            finally:
                c.close()
        threads = [threading.Thread(target=browse, args=(i,)) for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        fresh = Client(self.cluster.port)
        self.addCleanup(fresh.close)
        self.assertEqual(fresh.request("/t/count")[0], 200)


if __name__ == "__main__":
    unittest.main()
