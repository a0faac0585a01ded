"""A small HTTP step server on loopback for workflow tests and the benchmark:
POST /<step>/... with the engine's JSON body; each step is a Python function
(body dict, path) -> (status, answer dict or raw text). Threaded, HTTP/1.1
keep-alive. Counts calls per (step, key)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StepServer:
    def __init__(self, steps):
        """steps: name -> fn(body, path, calls_so_far) -> (status, answer)."""
        self.steps = steps
        self.calls = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                name = self.path.lstrip("/").split("/")[0].split("?")[0]
                key = body.get("key", "") if isinstance(body, dict) else ""
                with server.lock:
                    count = server.calls.get((name, key), 0) + 1
                    server.calls[(name, key)] = count
                fn = server.steps.get(name)
                status, answer = fn(body, self.path, count) if fn else (404, {"error": "no step " + name})
                data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the engine gave up on this step (its timeout): nobody to answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def count(self, step, key):
        with self.lock:
            return self.calls.get((step, key), 0)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
